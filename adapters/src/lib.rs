//! Plugging third-party AD crates into adcheck.
//!
//! Two ways in, both documented in the guide `docs/plug-in.md`:
//!
//! - implement `adcheck_engines::Engine` directly (what the
//!   `echidna` adapter does: its closures record a tape per call);
//! - or implement `adcheck_engines::Scalar` for your active type
//!   and reuse the glue here: a forward-mode type that also implements
//!   [`ForwardActive`] becomes a complete engine through [`ForwardGlue`];
//!   a type implementing `num_traits::Float` is a `Scalar` already through
//!   `FloatScalar` (feature `num-traits`, without compiling either
//!   worked adapter).
//!
//! The worked adapters sit behind cargo features so default builds stay
//! lean, each pinned to one exact version: `num-dual` (num-dual 0.15.1) and
//! `echidna` (echidna 0.15.0). [`engines`] lists those compiled in.

/// `+ − × ÷` and negation for a newtype `$wrapper<T: $bound>` by the
/// wrapped type's own operators (so an adapter shows the crate's rules).
#[allow(unused_macros)]
macro_rules! delegate_operators {
    ($wrapper:ident, $bound:path) => {
        impl<T: $bound> ::std::ops::Add for $wrapper<T> {
            type Output = Self;
            #[inline]
            fn add(self, rhs: Self) -> Self {
                $wrapper(self.0 + rhs.0)
            }
        }
        impl<T: $bound> ::std::ops::Sub for $wrapper<T> {
            type Output = Self;
            #[inline]
            fn sub(self, rhs: Self) -> Self {
                $wrapper(self.0 - rhs.0)
            }
        }
        impl<T: $bound> ::std::ops::Mul for $wrapper<T> {
            type Output = Self;
            #[inline]
            fn mul(self, rhs: Self) -> Self {
                $wrapper(self.0 * rhs.0)
            }
        }
        impl<T: $bound> ::std::ops::Div for $wrapper<T> {
            type Output = Self;
            #[inline]
            fn div(self, rhs: Self) -> Self {
                $wrapper(self.0 / rhs.0)
            }
        }
        impl<T: $bound> ::std::ops::Neg for $wrapper<T> {
            type Output = Self;
            #[inline]
            fn neg(self) -> Self {
                $wrapper(-self.0)
            }
        }
    };
}

#[cfg(feature = "echidna")]
pub mod echidna;
pub mod glue;
#[cfg(feature = "num-dual")]
pub mod num_dual;
#[cfg(feature = "num-traits")]
pub mod num_traits_scalar;

pub use glue::{ForwardActive, ForwardGlue};
#[cfg(feature = "num-traits")]
pub use num_traits_scalar::FloatScalar;

use adcheck_engines::Engine;

/// The adapter engines compiled in (by cargo feature), in a fixed order.
pub fn engines() -> Vec<Box<dyn Engine>> {
    let compiled_in: [Option<Box<dyn Engine>>; 2] = [
        #[cfg(feature = "num-dual")]
        Some(Box::new(num_dual::NumDualEngine::default())),
        #[cfg(not(feature = "num-dual"))]
        None,
        #[cfg(feature = "echidna")]
        Some(Box::new(echidna::EchidnaEngine)),
        #[cfg(not(feature = "echidna"))]
        None,
    ];
    compiled_in.into_iter().flatten().collect()
}

/// Every adapter and the cargo feature that compiles it in.
pub const ADAPTERS: [(&str, &str); 2] = [("num-dual", "num-dual"), ("echidna", "echidna")];
