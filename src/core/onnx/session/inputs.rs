//! A run's inputs: checked against the model, put in graph order, and described to ONNX Runtime
//! in place, reusing the description of a buffer that comes back.

use std::any::Any;

use ort::sys::OrtValue;
use smallvec::SmallVec;

use super::InferenceSession;
use crate::core::error::{Error, Result};
use crate::core::onnx::tensor::{element_count, format_shape, ElementType, TensorSpec, TensorView};
use crate::core::onnx::values::RawValue;

/// Keeps an input buffer alive while the session caches a value describing it (the binding
/// layer passes the numpy array that owns the buffer).
pub type KeepAlive = Box<dyn Any + Send + Sync>;

/// One input of [`InferenceSession::run_with`]: a borrowed buffer plus its shape.
pub struct RunInput<'a> {
    /// The input's name in the graph.
    pub name: &'a str,
    /// The dimensions of the data.
    pub shape: &'a [usize],
    /// The data, C-contiguous.
    pub data: TensorView<'a>,
    /// What keeps `data` alive, when it can be kept. The session then caches the value it
    /// creates over `data` and reuses it while the same buffer (address, length, shape and dtype)
    /// comes back, taking `owner` and handing back the owner of the buffer it stops caching.
    /// Values are read at run time, so a refilled buffer is seen. `None`: described for this
    /// run only.
    pub owner: Option<KeepAlive>,
}

/// A value describing a caller's input buffer, kept between runs.
pub(super) struct BoundInput {
    address: usize,
    len: usize,
    element_type: ElementType,
    shape: SmallVec<[usize; 4]>,
    value: RawValue,
    owner: KeepAlive,
}

impl BoundInput {
    fn describes(&self, input: &RunInput<'_>) -> bool {
        self.address == input.data.as_bytes().as_ptr() as usize
            && self.len == input.data.len()
            && self.element_type == input.data.element_type()
            && self.shape.as_slice() == input.shape
    }
}

/// The values one run reads its inputs from, in graph order.
pub(super) struct InputValues {
    /// One pointer per graph input: a cached value's or a fresh one's.
    pub(super) pointers: SmallVec<[*const OrtValue; 4]>,
    /// Values made for this run only, released after it.
    fresh: SmallVec<[RawValue; 4]>,
}

impl InputValues {
    /// Releases the values made for this run only (the run is over).
    pub(super) fn release(self) {
        drop(self.fresh);
    }
}

/// Describes each input to ONNX Runtime: the cached value where the same buffer came back, else
/// a new one, cached (in `bound`, one slot per graph input) when the caller can keep the buffer
/// alive. `order` gives, per graph input, its position in `inputs`.
pub(super) fn bind_inputs(
    bound: &mut [Option<BoundInput>],
    inputs: &mut [RunInput<'_>],
    order: &[usize],
) -> ort::Result<InputValues> {
    let mut values = InputValues {
        pointers: SmallVec::new(),
        fresh: SmallVec::new(),
    };
    for (slot, &position) in bound.iter_mut().zip(order) {
        let input = &mut inputs[position];
        if let Some(cached) = slot.as_ref().filter(|cached| cached.describes(input)) {
            values.pointers.push(cached.value.as_ptr());
            continue;
        }
        let data = input.data.as_bytes().as_ptr().cast_mut().cast();
        // SAFETY: the buffer is borrowed for this call; a cached value outlives the call only
        // together with `owner`, which keeps the buffer alive. ONNX Runtime only reads inputs.
        let value = unsafe {
            RawValue::over(
                data,
                input.data.len(),
                input.data.element_type(),
                input.shape,
            )
        }?;
        values.pointers.push(value.as_ptr());
        match input.owner.take() {
            Some(owner) => {
                let cached = BoundInput {
                    address: data as usize,
                    len: input.data.len(),
                    element_type: input.data.element_type(),
                    shape: SmallVec::from_slice(input.shape),
                    value,
                    owner,
                };
                // The owner of the buffer no longer cached goes back to the caller, which
                // drops it where that is cheap (with the GIL held).
                if let Some(previous) = slot.replace(cached) {
                    input.owner = Some(previous.owner);
                }
            }
            None => values.fresh.push(value),
        }
    }
    Ok(values)
}

/// A run's inputs, checked against the model (names, dtypes, shapes, data lengths). Only
/// checked inputs size an output ([`Self::planned_output_shape`]) or run ([`Self::run`]), so
/// nothing is allocated from a shape the model has not accepted.
pub struct CheckedInputs<'s, 'i, 'a> {
    pub(super) session: &'s InferenceSession,
    pub(super) inputs: &'i mut [RunInput<'a>],
    /// Per graph input, its position in `inputs`.
    pub(super) order: SmallVec<[usize; 4]>,
}

impl<'a> CheckedInputs<'_, '_, 'a> {
    /// The inputs, as given.
    pub fn inputs(&self) -> &[RunInput<'a>] {
        self.inputs
    }
}

impl InferenceSession {
    /// Checks `inputs` against the model: each graph input given once, with the declared dtype,
    /// rank and fixed dimensions, and as many elements of data as its shape holds.
    pub fn check_inputs<'s, 'i, 'a>(
        &'s self,
        inputs: &'i mut [RunInput<'a>],
    ) -> Result<CheckedInputs<'s, 'i, 'a>> {
        let order = self.order_inputs(inputs)?;
        Ok(CheckedInputs {
            session: self,
            inputs,
            order,
        })
    }

    /// Checks what an input array says of itself (its name, dtype and shape) against the model,
    /// before its data is read: for a caller that must copy the data first (a non-contiguous
    /// array), so that a shape the model refuses is never allocated.
    pub fn check_declared_input(
        &self,
        name: &str,
        element_type: ElementType,
        shape: &[usize],
    ) -> Result<()> {
        let spec = self
            .inputs
            .iter()
            .find(|spec| spec.name == name)
            .ok_or_else(|| self.unknown_input(name))?;
        check_layout(spec, element_type, shape)
    }

    fn unknown_input(&self, name: &str) -> Error {
        Error::invalid_input(format!(
            "unknown input {name:?}; the model takes {}",
            self.describe_inputs()
        ))
    }

    /// Checks `inputs` against the model; returns, per graph input, its index in `inputs`.
    fn order_inputs(&self, inputs: &[RunInput<'_>]) -> Result<SmallVec<[usize; 4]>> {
        for input in inputs {
            if !self.inputs.iter().any(|spec| spec.name == input.name) {
                return Err(self.unknown_input(input.name));
            }
        }
        self.inputs
            .iter()
            .map(|spec| {
                let mut matching = inputs
                    .iter()
                    .enumerate()
                    .filter(|(_, input)| input.name == spec.name);
                let (index, input) = matching.next().ok_or_else(|| {
                    Error::invalid_input(format!(
                        "missing input {:?} ({} {}); the model takes {}",
                        spec.name,
                        spec.element_type.name(),
                        spec.shape_text(),
                        self.describe_inputs()
                    ))
                })?;
                if matching.next().is_some() {
                    return Err(Error::invalid_input(format!(
                        "input {:?} was given twice",
                        spec.name
                    )));
                }
                check_input(spec, input)?;
                Ok(index)
            })
            .collect()
    }

    /// The model's inputs in words, for messages about a missing or unknown input.
    fn describe_inputs(&self) -> String {
        let described: Vec<String> = self
            .inputs
            .iter()
            .map(|spec| {
                format!(
                    "{:?} ({} {})",
                    spec.name,
                    spec.element_type.name(),
                    spec.shape_text()
                )
            })
            .collect();
        match described.len() {
            0 => "no inputs".to_owned(),
            1 => format!("one input: {}", described[0]),
            n => format!("{n} inputs: {}", described.join(", ")),
        }
    }
}

/// Checks one input's dtype, rank, fixed dimensions and data length against its declaration.
fn check_input(spec: &TensorSpec, input: &RunInput<'_>) -> Result<()> {
    check_layout(spec, input.data.element_type(), input.shape)?;
    let elements = element_count(input.shape);
    if elements != Some(input.data.len()) {
        return Err(Error::invalid_input(format!(
            "input {:?} has shape {} ({} elements) but {} elements of data",
            spec.name,
            format_shape(input.shape.iter().map(usize::to_string)),
            elements.map_or("too many".to_owned(), |n| n.to_string()),
            input.data.len()
        )));
    }
    Ok(())
}

/// Checks an input's dtype, rank and fixed dimensions against its declaration.
fn check_layout(spec: &TensorSpec, given: ElementType, shape: &[usize]) -> Result<()> {
    if given != spec.element_type {
        return Err(Error::invalid_input(format!(
            "input {:?} has dtype {}, expected {}",
            spec.name,
            given.name(),
            spec.element_type.name()
        )));
    }
    let given_shape = || format_shape(shape.iter().map(usize::to_string));
    if shape.len() != spec.shape.len() {
        return Err(Error::invalid_input(format!(
            "input {:?} has shape {} (rank {}), expected rank {} {}",
            spec.name,
            given_shape(),
            shape.len(),
            spec.shape.len(),
            spec.shape_text()
        )));
    }
    for (axis, (&given_dim, expected)) in shape.iter().zip(&spec.shape).enumerate() {
        if let Some(expected) = *expected {
            if i64::try_from(given_dim).ok() != Some(expected) {
                return Err(Error::invalid_input(format!(
                    "input {:?} has shape {}, expected {}: dimension {axis} is {given_dim}, expected {expected}",
                    spec.name,
                    given_shape(),
                    spec.shape_text()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_model::{runtime, DOUBLE_MODEL, HUGE_MODEL};
    use super::super::{ModelSource, SessionOptions};
    use super::*;

    fn open(model: &[u8]) -> InferenceSession {
        InferenceSession::open(ModelSource::Bytes(model), &SessionOptions::default()).unwrap()
    }

    #[test]
    fn inputs_are_checked_before_any_output_is_planned() {
        if runtime().is_none() {
            return;
        }
        // Its output is planned from the model alone (8 PiB): only inputs the model accepts,
        // which would be as large, can reach that plan.
        let session = open(&HUGE_MODEL);
        let data = [0.0f32; 3];
        let mut inputs = [RunInput {
            name: "x",
            shape: &[1, 3],
            data: TensorView::Float32(&data),
            owner: None,
        }];
        let error = session.check_inputs(&mut inputs).err().unwrap();
        assert_eq!(
            error.to_string(),
            "input \"x\" has shape (1, 3), expected (2147483647, 1048576): dimension 0 is 1, expected 2147483647"
        );
        assert!(matches!(error, Error::InvalidInput(_)));

        let session = open(&DOUBLE_MODEL);
        let mut short = [RunInput {
            name: "x",
            shape: &[2, 3],
            data: TensorView::Float32(&data),
            owner: None,
        }];
        assert_eq!(
            session.check_inputs(&mut short).err().unwrap().to_string(),
            "input \"x\" has shape (2, 3) (6 elements) but 3 elements of data"
        );
        let mut good = [RunInput {
            name: "x",
            shape: &[1, 3],
            data: TensorView::Float32(&data),
            owner: None,
        }];
        let checked = session.check_inputs(&mut good).unwrap();
        assert_eq!(
            checked.planned_output_shape(0).as_deref(),
            Some(&[1, 3][..])
        );
        assert_eq!(checked.planned_output_shape(1), None);
    }

    #[test]
    fn an_array_is_checked_by_what_it_declares_before_it_is_copied() {
        if runtime().is_none() {
            return;
        }
        let session = open(&DOUBLE_MODEL);
        assert!(session
            .check_declared_input("x", ElementType::Float32, &[1_000_000_000, 3])
            .is_ok());
        let message = |name: &str, element_type, shape: &[usize]| {
            session
                .check_declared_input(name, element_type, shape)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            message("x", ElementType::Float32, &[1_000_000_000, 0, 5]),
            "input \"x\" has shape (1000000000, 0, 5) (rank 3), expected rank 2 (None, 3)"
        );
        assert_eq!(
            message("x", ElementType::Float32, &[1_000_000_000, 4]),
            "input \"x\" has shape (1000000000, 4), expected (None, 3): dimension 1 is 4, expected 3"
        );
        assert_eq!(
            message("x", ElementType::Float64, &[1, 3]),
            "input \"x\" has dtype float64, expected float32"
        );
        assert_eq!(
            message("y", ElementType::Float32, &[1, 3]),
            "unknown input \"y\"; the model takes one input: \"x\" (float32 (None, 3))"
        );
    }
}
