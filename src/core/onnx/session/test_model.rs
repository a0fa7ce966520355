//! A tiny model and the runtime loader the session's tests share.

use std::path::Path;

use crate::core::onnx::runtime;

/// `y = x + x` over `[batch, 3]` float32, serialized by the `onnx` package (opset 17).
pub(super) const DOUBLE_MODEL: [u8; 86] = [
    8, 8, 58, 76, 10, 14, 10, 1, 120, 10, 1, 120, 18, 1, 121, 34, 3, 65, 100, 100, 18, 6, 100, 111,
    117, 98, 108, 101, 90, 24, 10, 1, 120, 18, 19, 10, 17, 8, 1, 18, 13, 10, 7, 18, 5, 98, 97, 116,
    99, 104, 10, 2, 8, 3, 98, 24, 10, 1, 121, 18, 19, 10, 17, 8, 1, 18, 13, 10, 7, 18, 5, 98, 97,
    116, 99, 104, 10, 2, 8, 3, 66, 4, 10, 0, 16, 17,
];

/// `y = x` over a fixed `[2147483647, 1048576]` float32 (8 PiB; serialized by the `onnx`
/// package, opset 17): a model whose declared shapes no machine can allocate.
pub(super) const HUGE_MODEL: [u8; 88] = [
    8, 8, 58, 78, 10, 16, 10, 1, 120, 18, 1, 121, 34, 8, 73, 100, 101, 110, 116, 105, 116, 121, 18,
    4, 104, 117, 103, 101, 90, 25, 10, 1, 120, 18, 20, 10, 18, 8, 1, 18, 14, 10, 6, 8, 255, 255,
    255, 255, 7, 10, 4, 8, 128, 128, 64, 98, 25, 10, 1, 121, 18, 20, 10, 18, 8, 1, 18, 14, 10, 6,
    8, 255, 255, 255, 255, 7, 10, 4, 8, 128, 128, 64, 66, 4, 10, 0, 16, 17,
];

/// Loads ONNX Runtime from `ORT_DYLIB_PATH` (`make test` sets it to the wheel's library);
/// `None` where it is not set, so `cargo test` alone still passes without a library.
pub(super) fn runtime() -> Option<()> {
    let path = std::env::var_os("ORT_DYLIB_PATH")?;
    runtime::ensure_loaded(Path::new(&path)).expect("ORT_DYLIB_PATH names a usable library");
    Some(())
}
