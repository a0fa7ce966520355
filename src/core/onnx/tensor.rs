//! Element types, tensor descriptions, and borrowed/owned tensor data that cross the core's API.

use ort::value::TensorElementType;

use crate::core::alloc;
use crate::core::error::{Error, Result};

/// Runs `$body` once per element type the core supports, binding `$variant` and `$ty`.
///
/// One list of supported dtypes keeps the borrowed, owned and numpy conversions in step.
#[macro_export]
macro_rules! for_each_element {
    ($macro:ident) => {
        $macro! {
            Float32 => f32, "float32";
            Float64 => f64, "float64";
            Int64 => i64, "int64";
            Int32 => i32, "int32";
            Int16 => i16, "int16";
            Int8 => i8, "int8";
            Uint64 => u64, "uint64";
            Uint32 => u32, "uint32";
            Uint16 => u16, "uint16";
            Uint8 => u8, "uint8";
            Bool => bool, "bool";
        }
    };
}

macro_rules! define_element_types {
    ($($variant:ident => $ty:ty, $name:literal;)*) => {
        /// A tensor element type the core can pass to and from ONNX Runtime.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ElementType {
            $($variant,)*
            /// A type the model uses that the core cannot exchange (string, float16, ...).
            Unsupported(&'static str),
        }

        impl ElementType {
            /// Every element type the core exchanges, in table order.
            pub const SUPPORTED: &'static [ElementType] = &[$(Self::$variant,)*];

            /// The numpy dtype name of this element type.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                    Self::Unsupported(name) => name,
                }
            }

            /// Parses a numpy dtype name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// The size of one element in bytes; `None` for an unsupported type.
            pub fn size(self) -> Option<usize> {
                match self {
                    $(Self::$variant => Some(std::mem::size_of::<$ty>()),)*
                    Self::Unsupported(_) => None,
                }
            }

            /// ONNX Runtime's tag for this type; `None` for an unsupported type.
            pub(crate) fn to_ort(self) -> Option<TensorElementType> {
                match self {
                    $(Self::$variant => Some(TensorElementType::$variant),)*
                    Self::Unsupported(_) => None,
                }
            }

            fn from_ort(ty: TensorElementType) -> Self {
                match ty {
                    $(TensorElementType::$variant => Self::$variant,)*
                    TensorElementType::String => Self::Unsupported("str"),
                    TensorElementType::Float16 => Self::Unsupported("float16"),
                    TensorElementType::Bfloat16 => Self::Unsupported("bfloat16"),
                    _ => Self::Unsupported("unknown"),
                }
            }
        }

        /// Tensor data borrowed from the caller; handed to ONNX Runtime without a copy.
        #[derive(Debug, Clone, Copy)]
        pub enum TensorView<'a> {
            $($variant(&'a [$ty]),)*
        }

        impl TensorView<'_> {
            /// The element type of the data.
            pub fn element_type(&self) -> ElementType {
                match self {
                    $(Self::$variant(_) => ElementType::$variant,)*
                }
            }

            /// The number of elements.
            pub fn len(&self) -> usize {
                match self {
                    $(Self::$variant(data) => data.len(),)*
                }
            }

            /// Whether there are no elements.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// The elements in `range`; `None` when it does not lie within the data.
            pub fn get(&self, range: std::ops::Range<usize>) -> Option<Self> {
                match self {
                    $(Self::$variant(data) => data.get(range).map(Self::$variant),)*
                }
            }

            /// The data's bytes, in memory order.
            pub fn as_bytes(&self) -> &[u8] {
                match self {
                    // SAFETY: every element type here is plain old data (numbers and `bool`,
                    // whose bytes are 0 or 1), so its memory can be read as bytes; the length is
                    // the slice's size in bytes.
                    $(Self::$variant(data) => unsafe {
                        std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(*data))
                    },)*
                }
            }
        }

        /// A caller's buffer that a run writes one output into, in place.
        #[derive(Debug)]
        pub enum TensorViewMut<'a> {
            $($variant(&'a mut [$ty]),)*
        }

        impl TensorViewMut<'_> {
            /// The element type, the length and the start of the buffer.
            pub(crate) fn parts(&mut self) -> (ElementType, usize, *mut std::ffi::c_void) {
                match self {
                    $(Self::$variant(data) => {
                        (ElementType::$variant, data.len(), data.as_mut_ptr().cast())
                    })*
                }
            }
        }

        /// Tensor data owned by the core: a model's output, copied once out of ONNX Runtime.
        #[derive(Debug, Clone, PartialEq)]
        pub enum TensorData {
            $($variant(Vec<$ty>),)*
        }

        impl TensorData {
            /// The element type of the data.
            pub fn element_type(&self) -> ElementType {
                match self {
                    $(Self::$variant(_) => ElementType::$variant,)*
                }
            }

            /// `len` zeros of `element_type`: `Ok(None)` for an unsupported type, and
            /// [`Error::OutOfMemory`] naming `what` when memory is short.
            pub fn try_zeros(
                element_type: ElementType,
                len: usize,
                what: impl FnOnce() -> String,
            ) -> Result<Option<Self>> {
                Ok(match element_type {
                    $(ElementType::$variant => Some(Self::$variant(alloc::try_filled(len, <$ty>::default(), what)?)),)*
                    ElementType::Unsupported(_) => None,
                })
            }

            /// Borrows the data.
            pub fn view(&self) -> TensorView<'_> {
                match self {
                    $(Self::$variant(data) => TensorView::$variant(data),)*
                }
            }

            /// Copies output `name` of the model from `origin` out of the value ONNX Runtime
            /// allocated for it; the copy is as large as the output, so it is made fallibly.
            pub(crate) fn from_value(
                value: &ort::value::DynValue,
                origin: &str,
                name: &str,
            ) -> Result<(Vec<usize>, Self)> {
                let failed = |reason: String| Error::Inference {
                    origin: origin.to_owned(),
                    reason,
                };
                let ty = value.dtype().tensor_type();
                match ty.map(ElementType::from_ort) {
                    $(Some(ElementType::$variant) => {
                        let (shape, data) = value
                            .try_extract_tensor::<$ty>()
                            .map_err(|error| failed(error.to_string()))?;
                        let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
                        let data = alloc::try_copy(data, || {
                            format!(
                                "a copy of output {name:?} of shape {}",
                                format_shape(shape.iter().map(usize::to_string))
                            )
                        })?;
                        Ok((shape, Self::$variant(data)))
                    })*
                    other => Err(failed(format!(
                        "output element type {} is not supported",
                        other.map_or("non-tensor", ElementType::name)
                    ))),
                }
            }
        }
    };
}

for_each_element!(define_element_types);

/// The declared type and shape of one model input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// The name in the ONNX graph.
    pub name: String,
    /// The element type.
    pub element_type: ElementType,
    /// One entry per dimension: `None` where the dimension is dynamic.
    pub shape: Vec<Option<i64>>,
}

impl TensorSpec {
    pub(crate) fn from_outlet(outlet: &ort::value::Outlet) -> Self {
        let (element_type, shape) = match outlet.dtype() {
            ort::value::ValueType::Tensor { ty, shape, .. } => (
                ElementType::from_ort(*ty),
                shape.iter().map(|&d| (d >= 0).then_some(d)).collect(),
            ),
            _ => (ElementType::Unsupported("non-tensor"), Vec::new()),
        };
        Self {
            name: outlet.name().to_owned(),
            element_type,
            shape,
        }
    }

    /// The shape written like numpy does, with `None` for dynamic dimensions.
    pub fn shape_text(&self) -> String {
        format_shape(
            self.shape
                .iter()
                .map(|d| d.map_or("None".to_owned(), |d| d.to_string())),
        )
    }
}

/// Formats dimensions as a Python tuple: `(1, 120, 5)`, `(3,)`, `()`.
pub fn format_shape(dims: impl IntoIterator<Item = String>) -> String {
    let dims: Vec<String> = dims.into_iter().collect();
    match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    }
}

/// The number of elements of `shape`; `None` when it overflows `usize`.
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// One named input for a run: a borrowed buffer plus its shape.
#[derive(Debug, Clone)]
pub struct NamedInput<'a> {
    /// The input's name in the graph.
    pub name: &'a str,
    /// The dimensions of the data.
    pub shape: Vec<usize>,
    /// The data, C-contiguous.
    pub data: TensorView<'a>,
}

/// One output of a run: its shape and the data copied out of ONNX Runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputTensor {
    /// The dimensions of the data.
    pub shape: Vec<usize>,
    /// The data, C-contiguous.
    pub data: TensorData,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_are_allocated_fallibly() {
        assert_eq!(
            TensorData::try_zeros(ElementType::Int16, 3, String::new).unwrap(),
            Some(TensorData::Int16(vec![0; 3]))
        );
        assert_eq!(
            TensorData::try_zeros(ElementType::Unsupported("str"), 3, String::new).unwrap(),
            None
        );
        let error = TensorData::try_zeros(ElementType::Float64, usize::MAX / 8, || {
            "the zeros of input \"x\"".to_owned()
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "not enough memory for the zeros of input \"x\" ({} bytes)",
                usize::MAX / 8 * 8
            )
        );
    }
}
