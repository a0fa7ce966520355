//! ONNX Runtime values over buffers the caller owns, and the one `Run` call that uses them.
//!
//! `ort`'s safe wrappers allocate per value (a memory description, shape and symbol vectors, an
//! `Arc`) and per run (name arrays). The live path runs a tiny model in a few microseconds, so
//! this module talks to the C API directly: one `CreateTensorWithDataAsOrtValue` per new buffer,
//! one `Run` with name arrays built when the session opened, and nothing else.

use std::ffi::{c_char, c_void, CString};
use std::ptr::{self, NonNull};
use std::sync::OnceLock;

use ort::session::{RunOptions, Session};
use ort::sys::{OrtMemoryInfo, OrtValue};
use ort::AsPointer;
use smallvec::SmallVec;

use crate::core::onnx::tensor::ElementType;

/// The CPU memory description every value over host memory uses; created once, never freed.
struct CpuMemory(NonNull<OrtMemoryInfo>);

// SAFETY: an `OrtMemoryInfo` is immutable after creation; ONNX Runtime only reads it.
unsafe impl Send for CpuMemory {}
unsafe impl Sync for CpuMemory {}

fn cpu_memory() -> ort::Result<*const OrtMemoryInfo> {
    static CPU: OnceLock<CpuMemory> = OnceLock::new();
    if let Some(memory) = CPU.get() {
        return Ok(memory.0.as_ptr());
    }
    let mut info: *mut OrtMemoryInfo = ptr::null_mut();
    // SAFETY: plain C API call with an out pointer; the status is checked.
    unsafe {
        ort::Error::result_from_status((ort::api().CreateCpuMemoryInfo)(
            ort::sys::OrtAllocatorType::OrtDeviceAllocator,
            ort::sys::OrtMemType::OrtMemTypeDefault,
            &mut info,
        ))?;
    }
    let info = NonNull::new(info).ok_or_else(|| ort::Error::new("no CPU memory info"))?;
    // A racing thread may have set it first; its info is as good as ours (ours then leaks once).
    Ok(CPU.get_or_init(|| CpuMemory(info)).0.as_ptr())
}

/// An `OrtValue` describing a caller-owned buffer; released on drop (the buffer is not freed).
pub(crate) struct RawValue(NonNull<OrtValue>);

// SAFETY: the value is a small heap object that ONNX Runtime does not tie to a thread; it is
// only used by one run at a time (under the session's lock) and released once.
unsafe impl Send for RawValue {}

impl RawValue {
    /// Describes `len` elements of `element_type` at `data` with `shape`.
    ///
    /// # Safety
    /// `data` must point to `len` initialised elements of `element_type` that stay valid (and
    /// unaliased by Rust references, for an output) for as long as the value is used in a run.
    pub(crate) unsafe fn over(
        data: *mut c_void,
        len: usize,
        element_type: ElementType,
        shape: &[usize],
    ) -> ort::Result<Self> {
        let (Some(ty), Some(size)) = (element_type.to_ort(), element_type.size()) else {
            return Err(ort::Error::new(format!(
                "element type {} is not supported",
                element_type.name()
            )));
        };
        let dims = shape
            .iter()
            .map(|&dim| i64::try_from(dim).map_err(|_| ort::Error::new("dimension too large")))
            .collect::<ort::Result<SmallVec<[i64; 8]>>>()?;
        let bytes = len
            .checked_mul(size)
            .ok_or_else(|| ort::Error::new("tensor size overflows"))?;
        let mut value: *mut OrtValue = ptr::null_mut();
        // SAFETY: the caller guarantees the buffer; dims and the out pointer are valid here.
        unsafe {
            ort::Error::result_from_status((ort::api().CreateTensorWithDataAsOrtValue)(
                cpu_memory()?,
                data,
                bytes,
                dims.as_ptr(),
                dims.len(),
                ty.into(),
                &mut value,
            ))?;
        }
        NonNull::new(value)
            .map(Self)
            .ok_or_else(|| ort::Error::new("ONNX Runtime returned no value"))
    }

    pub(crate) fn as_ptr(&self) -> *mut OrtValue {
        self.0.as_ptr()
    }
}

impl Drop for RawValue {
    fn drop(&mut self) {
        // SAFETY: the value was created by `CreateTensorWithDataAsOrtValue` and is released once.
        unsafe { (ort::api().ReleaseValue)(self.0.as_ptr()) }
    }
}

/// The NUL-terminated names of a session's inputs or outputs, with their pointers for `Run`.
pub(crate) struct Names {
    _owned: Vec<CString>,
    pointers: Vec<*const c_char>,
}

// SAFETY: the pointers point into `_owned`'s heap buffers, which never change or move.
unsafe impl Send for Names {}
unsafe impl Sync for Names {}

impl Names {
    pub(crate) fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> ort::Result<Self> {
        let owned = names
            .into_iter()
            .map(|name| CString::new(name).map_err(|_| ort::Error::new("a name contains NUL")))
            .collect::<ort::Result<Vec<_>>>()?;
        let pointers = owned.iter().map(|name| name.as_ptr()).collect();
        Ok(Self {
            _owned: owned,
            pointers,
        })
    }

    pub(crate) fn pointers(&self) -> &[*const c_char] {
        &self.pointers
    }
}

/// Runs `session` on `inputs` (one per name in `input_names`), writing the outputs named by
/// `output_names` into `outputs`: a non-null entry is a value the caller preallocated and the
/// run writes into; a null entry receives a value ONNX Runtime allocated, which the caller owns.
///
/// # Safety
/// Every non-null pointer in `inputs` and `outputs` must be a live `OrtValue` whose buffer stays
/// valid during the call; the slices' lengths must match the name slices'.
pub(crate) unsafe fn run(
    session: &mut Session,
    options: Option<&RunOptions>,
    input_names: &[*const c_char],
    inputs: &[*const OrtValue],
    output_names: &[*const c_char],
    outputs: &mut [*mut OrtValue],
) -> ort::Result<()> {
    debug_assert_eq!(input_names.len(), inputs.len());
    debug_assert_eq!(output_names.len(), outputs.len());
    let options = options.map_or(ptr::null(), |options| options.ptr());
    // SAFETY: `&mut Session` serialises runs on this session; the caller guarantees the values.
    unsafe {
        ort::Error::result_from_status((ort::api().Run)(
            session.ptr_mut(),
            options,
            input_names.as_ptr(),
            inputs.as_ptr(),
            inputs.len(),
            output_names.as_ptr(),
            output_names.len(),
            outputs.as_mut_ptr(),
        ))
    }
}
