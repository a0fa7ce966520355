//! The C floor: what one run of a model costs through ONNX Runtime's C API with nothing around
//! it, to compare `predict` with (see `bench_live.py`, which runs this binary).
//!
//! The same `ort` crate and library the package uses, a session opened as the package opens
//! one by default (all graph optimisations, an intra-op pool of one thread of its own, no
//! spinning), and the input and output bound once (`IoBinding`): each timed call is one
//! `RunWithBinding` through the C API table, no allocation, no Python.
//!
//! ```text
//! ORT_DYLIB_PATH=/abs/libonnxruntime.so \
//!     cargo bench --no-default-features --bench c_floor -- MODEL.onnx [CALLS] [ROUNDS]
//! ```
//!
//! `MODEL.onnx` takes one float32 `[1, seq, features]` input (its dimensions fixed, or `seq`
//! and `features` given as `MODEL.onnx:SEQ:FEATURES`) and has one float32 `[1, 1]` output. It
//! prints one JSON line: `{"p50_us": .., "calls": ..}`, the median over `ROUNDS` rounds of each
//! round's median call.

use std::path::PathBuf;
use std::time::Instant;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{Tensor, ValueType};
use ort::AsPointer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).filter(|arg| arg != "--bench");
    let model = args
        .next()
        .ok_or("usage: c_floor MODEL.onnx[:SEQ:FEATURES] [CALLS] [ROUNDS]")?;
    let calls: usize = args.next().map_or(Ok(20_000), |arg| arg.parse())?;
    let rounds: usize = args.next().map_or(Ok(10), |arg| arg.parse())?;
    let mut parts = model.split(':');
    let path = PathBuf::from(parts.next().unwrap_or_default());
    let given: Vec<i64> = parts.map(str::parse).collect::<Result<_, _>>()?;

    let library = std::env::var("ORT_DYLIB_PATH")
        .map_err(|_| "set ORT_DYLIB_PATH to the absolute path of libonnxruntime")?;
    ort::init_from(library)?.commit();
    let mut session = Session::builder()?
        .with_optimization_level(GraphOptimizationLevel::Level3)?
        .with_independent_thread_pool()?
        .with_intra_threads(1)?
        .with_intra_op_spinning(false)?
        .with_inter_op_spinning(false)?
        .commit_from_file(&path)?;

    let input = &session.inputs()[0];
    let ValueType::Tensor { shape, .. } = input.dtype() else {
        return Err("the model's input is not a tensor".into());
    };
    let mut dims: Vec<i64> = shape.to_vec();
    for (dim, &value) in dims.iter_mut().skip(1).zip(&given) {
        *dim = value;
    }
    dims[0] = 1;
    if dims.iter().any(|&dim| dim < 1) {
        return Err(format!("give the input's dynamic dimensions: {dims:?}").into());
    }
    let elements: usize = dims.iter().map(|&dim| dim as usize).product();
    let values: Vec<f32> = (0..elements).map(|i| (i % 97) as f32 / 97.0).collect();
    let input_name = input.name().to_owned();
    let output_name = session.outputs()[0].name().to_owned();
    let input = Tensor::from_array((dims.clone(), values))?;
    let output = Tensor::<f32>::from_array(([1usize, 1], vec![0.0_f32]))?;
    let mut binding = session.create_binding()?;
    binding.bind_input(&input_name, &input)?;
    binding.bind_output(&output_name, output)?;
    // One checked run through the crate first: the binding works and the output is a number.
    let first = session.run_binding(&binding)?;
    let value = first[0].try_extract_tensor::<f32>()?.1[0];
    if !value.is_finite() {
        return Err(format!("the model's output is {value}").into());
    }
    drop(first);

    let run = ort::api().RunWithBinding;
    let session_ptr = session.ptr_mut();
    let binding_ptr = binding.ptr_mut();
    let call = || {
        // SAFETY: the session and the binding are alive and used from this thread only; the
        // bound input and output values are held by the binding.
        let status = unsafe { run(session_ptr, std::ptr::null(), binding_ptr) };
        assert!(status.0.is_null(), "RunWithBinding failed");
    };
    for _ in 0..calls.min(2_000) {
        call();
    }
    let per_round = (calls / rounds.max(1)).max(1);
    let mut medians = Vec::with_capacity(rounds);
    let mut samples = vec![0.0_f64; per_round];
    for _ in 0..rounds.max(1) {
        for sample in &mut samples {
            let start = Instant::now();
            call();
            *sample = start.elapsed().as_secs_f64() * 1e6;
        }
        samples.sort_by(f64::total_cmp);
        medians.push(samples[per_round / 2]);
    }
    medians.sort_by(f64::total_cmp);
    println!(
        "{{\"p50_us\": {:.4}, \"calls\": {}}}",
        medians[medians.len() / 2],
        per_round * rounds.max(1)
    );
    Ok(())
}
