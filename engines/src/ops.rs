//! The elementary operations a [`Program`](crate::Program) is made of.
//!
//! Each operation has one lowercase name used by the text and JSON forms, and
//! an `apply` method that evaluates it over any [`Scalar`].

use crate::Scalar;

macro_rules! op_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every operation of this kind, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in the text and JSON forms.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Looks an operation up by its text name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

op_enum! {
    /// A one-argument operation.
    UnaryOp {
        /// `-x`
        Neg => "neg",
        /// `1/x`
        Recip => "recip",
        /// `√x`
        Sqrt => "sqrt",
        /// `∛x`
        Cbrt => "cbrt",
        /// `eˣ`
        Exp => "exp",
        /// `eˣ − 1`
        Expm1 => "expm1",
        /// `ln x`
        Ln => "ln",
        /// `ln(1 + x)`
        Log1p => "log1p",
        /// `sin x`
        Sin => "sin",
        /// `cos x`
        Cos => "cos",
        /// `tan x`
        Tan => "tan",
        /// `asin x`
        Asin => "asin",
        /// `acos x`
        Acos => "acos",
        /// `atan x`
        Atan => "atan",
        /// `sinh x`
        Sinh => "sinh",
        /// `cosh x`
        Cosh => "cosh",
        /// `tanh x`
        Tanh => "tanh",
        /// `|x|`
        Abs => "abs",
        /// `max(x, 0)`
        Relu => "relu",
        /// `ln(1 + eˣ)`
        Softplus => "softplus",
    }
}

op_enum! {
    /// A two-argument operation.
    BinaryOp {
        /// `a + b`
        Add => "add",
        /// `a − b`
        Sub => "sub",
        /// `a · b`
        Mul => "mul",
        /// `a / b`
        Div => "div",
        /// `aᵇ`
        Powf => "powf",
        /// `atan2(a, b)`, a is y and b is x
        Atan2 => "atan2",
        /// `min(a, b)`
        Min => "min",
        /// `max(a, b)`
        Max => "max",
        /// `√(a² + b²)`
        Hypot => "hypot",
    }
}

op_enum! {
    /// The primal comparison of a branch (`select`): which side is taken.
    Comparison {
        /// take the first value when `a < b`
        Lt => "iflt",
        /// take the first value when `a <= b`
        Le => "ifle",
    }
}

impl UnaryOp {
    /// Evaluates the operation over any scalar.
    #[inline]
    pub fn apply<S: Scalar>(self, x: &S) -> S {
        match self {
            UnaryOp::Neg => -x.clone(),
            UnaryOp::Recip => x.recip(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Cbrt => x.cbrt(),
            UnaryOp::Exp => x.exp(),
            UnaryOp::Expm1 => x.expm1(),
            UnaryOp::Ln => x.ln(),
            UnaryOp::Log1p => x.log1p(),
            UnaryOp::Sin => x.sin(),
            UnaryOp::Cos => x.cos(),
            UnaryOp::Tan => x.tan(),
            UnaryOp::Asin => x.asin(),
            UnaryOp::Acos => x.acos(),
            UnaryOp::Atan => x.atan(),
            UnaryOp::Sinh => x.sinh(),
            UnaryOp::Cosh => x.cosh(),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Relu => x.relu(),
            UnaryOp::Softplus => x.softplus(),
        }
    }
}

impl BinaryOp {
    /// Evaluates the operation over any scalar.
    #[inline]
    pub fn apply<S: Scalar>(self, a: &S, b: &S) -> S {
        match self {
            BinaryOp::Add => a.clone() + b.clone(),
            BinaryOp::Sub => a.clone() - b.clone(),
            BinaryOp::Mul => a.clone() * b.clone(),
            BinaryOp::Div => a.clone() / b.clone(),
            BinaryOp::Powf => a.powf(b),
            BinaryOp::Atan2 => a.atan2(b),
            BinaryOp::Min => a.min(b),
            BinaryOp::Max => a.max(b),
            BinaryOp::Hypot => a.hypot(b),
        }
    }
}

impl Comparison {
    /// Whether the first branch is taken for primal values `a` and `b`.
    #[inline]
    pub fn holds<S: Scalar>(self, a: &S, b: &S) -> bool {
        match self {
            Comparison::Lt => a.lt(b),
            Comparison::Le => a.le(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for op in UnaryOp::ALL {
            assert_eq!(UnaryOp::from_name(op.name()), Some(*op));
            assert!(seen.insert(op.name()));
        }
        for op in BinaryOp::ALL {
            assert_eq!(BinaryOp::from_name(op.name()), Some(*op));
            assert!(seen.insert(op.name()));
        }
        for op in Comparison::ALL {
            assert_eq!(Comparison::from_name(op.name()), Some(*op));
            assert!(seen.insert(op.name()));
        }
        assert_eq!(UnaryOp::from_name("mul"), None);
    }
}
