//! Output shapes known before a run: fixed, or the batch of an input followed by fixed
//! dimensions. A caller can then allocate such an output itself and have the run write it in
//! place ([`super::OutputTarget::Buffer`]).

use std::sync::atomic::Ordering;

use ort::session::Session;
use ort::value::ValueType;
use smallvec::SmallVec;

use super::{CheckedInputs, InferenceSession, OutputTarget, RunInput};
use crate::core::error::{Error, Result};
use crate::core::onnx::tensor::{element_count, format_shape, TensorSpec};

/// An output shape known before a run (on the stack for up to 4 dimensions).
pub type PlannedShape = SmallVec<[usize; 4]>;

/// How an output's shape is known before a run.
#[derive(Debug, Clone)]
pub(super) enum OutputPlan {
    /// Every dimension is fixed.
    Fixed(Vec<usize>),
    /// The first dimension is the batch of graph input `input`, the rest are fixed. `proven`:
    /// the two dimensions have the same symbol, which ONNX defines as the same size; otherwise
    /// it is a guess (the only input with a dynamic first dimension, as exporters that name
    /// every dimension differently leave it), checked by the first run that relies on it.
    Batched {
        input: usize,
        rest: Vec<usize>,
        proven: bool,
    },
    /// Known only after the run.
    Dynamic,
}

/// The dimension symbols of a graph input or output (empty for a non-tensor).
fn outlet_symbols(outlet: &ort::value::Outlet) -> Vec<String> {
    match outlet.dtype() {
        ValueType::Tensor {
            dimension_symbols, ..
        } => dimension_symbols.iter().cloned().collect(),
        _ => Vec::new(),
    }
}

/// How each output's shape is known before a run, from the declared shapes and symbols.
pub(super) fn plan_outputs(
    session: &Session,
    inputs: &[TensorSpec],
    outputs: &[TensorSpec],
) -> Vec<OutputPlan> {
    let input_symbols: Vec<Vec<String>> = session.inputs().iter().map(outlet_symbols).collect();
    outputs
        .iter()
        .zip(session.outputs())
        .map(|(spec, outlet)| {
            let fixed = |dims: &[Option<i64>]| {
                dims.iter()
                    .map(|dim| dim.and_then(|d| usize::try_from(d).ok()))
                    .collect::<Option<Vec<usize>>>()
            };
            if spec.element_type.size().is_none() {
                return OutputPlan::Dynamic;
            }
            if let Some(shape) = fixed(&spec.shape) {
                return OutputPlan::Fixed(shape);
            }
            let (Some(None), Some(rest)) =
                (spec.shape.first(), spec.shape.get(1..).and_then(fixed))
            else {
                return OutputPlan::Dynamic;
            };
            let symbols = outlet_symbols(outlet);
            let symbol = symbols.first().filter(|symbol| !symbol.is_empty());
            // ONNX gives dimensions with the same symbol the same value: an output whose first
            // dimension is named like an input's dynamic first dimension has that batch size.
            let named = inputs
                .iter()
                .zip(&input_symbols)
                .position(|(input, names)| {
                    input.shape.first() == Some(&None)
                        && symbol.is_some()
                        && names.first() == symbol
                });
            let batched: Vec<usize> = inputs
                .iter()
                .enumerate()
                .filter(|(_, input)| input.shape.first() == Some(&None))
                .map(|(index, _)| index)
                .collect();
            match (named, batched.as_slice()) {
                (Some(input), _) => OutputPlan::Batched {
                    input,
                    rest,
                    proven: true,
                },
                (None, [input]) => OutputPlan::Batched {
                    input: *input,
                    rest,
                    proven: false,
                },
                _ => OutputPlan::Dynamic,
            }
        })
        .collect()
}

impl CheckedInputs<'_, '_, '_> {
    /// The shape output `output` will have when the model runs on these inputs, where that is
    /// known before the run (a fixed shape, or the batch of an input the model accepted); `None`
    /// otherwise. A caller allocating a buffer of this shape must do so fallibly
    /// ([`crate::core::alloc`]): a fixed shape comes from the model file.
    pub fn planned_output_shape(&self, output: usize) -> Option<PlannedShape> {
        self.session
            .plan_shape(output, self.inputs, self.session.trusts_guesses())
    }
}

impl InferenceSession {
    /// Whether no guessed batch plan has been refuted yet.
    pub(super) fn trusts_guesses(&self) -> bool {
        !self.guess_refuted.load(Ordering::Relaxed)
    }

    /// Records that a run refuted a guessed batch plan: such outputs are copied from now on.
    pub(super) fn refute_guesses(&self) {
        self.guess_refuted.store(true, Ordering::Relaxed);
    }

    /// Whether output `output`'s plan is a guess (see [`OutputPlan::Batched`]).
    pub(super) fn is_guess(&self, output: usize) -> bool {
        matches!(
            self.plans.get(output),
            Some(OutputPlan::Batched { proven: false, .. })
        )
    }

    /// Output `output`'s planned shape for `inputs`; with `guesses` off, a guessed plan is none.
    pub(super) fn plan_shape(
        &self,
        output: usize,
        inputs: &[RunInput<'_>],
        guesses: bool,
    ) -> Option<PlannedShape> {
        match self.plans.get(output)? {
            OutputPlan::Fixed(shape) => Some(SmallVec::from_slice(shape)),
            OutputPlan::Batched { proven: false, .. } if !guesses => None,
            OutputPlan::Batched { input, rest, .. } => {
                let name = &self.inputs[*input].name;
                let given = inputs.iter().find(|given| given.name == name)?;
                let batch = *given.shape.first()?;
                Some(std::iter::once(batch).chain(rest.iter().copied()).collect())
            }
            OutputPlan::Dynamic => None,
        }
    }

    /// Checks the output targets against the model and the planned shapes (of checked inputs).
    pub(super) fn check_targets(
        &self,
        inputs: &[RunInput<'_>],
        targets: &mut [OutputTarget<'_>],
    ) -> Result<()> {
        if targets.len() != self.outputs.len() {
            return Err(Error::invalid_input(format!(
                "{} output targets given; the model has {} outputs",
                targets.len(),
                self.outputs.len()
            )));
        }
        if targets
            .iter()
            .all(|target| matches!(target, OutputTarget::Skip))
        {
            return Err(Error::invalid_input(
                "a run must request at least one output",
            ));
        }
        for (index, (target, spec)) in targets.iter_mut().zip(&self.outputs).enumerate() {
            let OutputTarget::Buffer(buffer) = target else {
                continue;
            };
            let (element_type, len, _) = buffer.parts();
            if element_type != spec.element_type {
                return Err(Error::invalid_input(format!(
                    "the buffer for output {:?} has dtype {}, expected {}",
                    spec.name,
                    element_type.name(),
                    spec.element_type.name()
                )));
            }
            let Some(shape) = self.plan_shape(index, inputs, self.trusts_guesses()) else {
                return Err(Error::invalid_input(format!(
                    "output {:?} has shape {}, known only after the run; copy it instead",
                    spec.name,
                    spec.shape_text()
                )));
            };
            let elements = element_count(&shape);
            if elements != Some(len) {
                return Err(Error::invalid_input(format!(
                    "the buffer for output {:?} holds {} elements; its shape {} needs {}",
                    spec.name,
                    len,
                    format_shape(shape.iter().map(usize::to_string)),
                    elements.map_or("more than memory holds".to_owned(), |n| n.to_string())
                )));
            }
        }
        Ok(())
    }
}
