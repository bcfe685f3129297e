//! Reduction operations: MPI's built-in ones and user-defined closures.
//!
//! An [`Op<T>`] combines two values, the first always from lower ranks than the second, so a
//! non-commutative operation gets MPI's rank order: the result of a reduction over ranks
//! 0..n is `x0 ⊕ x1 ⊕ … ⊕ x(n-1)`. On typed buffers an operation applies element by element.
//! Integer arithmetic wraps instead of panicking on overflow.

/// A reduction operation on `T`.
///
/// ```
/// use rmpi::collectives::Op;
/// /// Keeps the longer string; ties go to the lower rank.
/// struct Longest;
/// impl Op<String> for Longest {
///     fn apply(&self, lower: &String, higher: &String) -> String {
///         if higher.len() > lower.len() { higher.clone() } else { lower.clone() }
///     }
/// }
/// assert_eq!(Longest.apply(&"ab".into(), &"abc".into()), "abc");
/// ```
pub trait Op<T>: Send + Sync {
    /// `lower ⊕ higher`, where `lower` comes from lower ranks.
    ///
    /// ```
    /// use rmpi::collectives::{Op, Sum};
    /// assert_eq!(Sum.apply(&2, &3), 5);
    /// ```
    fn apply(&self, lower: &T, higher: &T) -> T;

    /// Whether operands may be combined in any order (enables more algorithms).
    ///
    /// ```
    /// use rmpi::collectives::{Op, UserOp};
    /// let concat = UserOp::non_commutative(|a: &String, b: &String| format!("{a}{b}"));
    /// assert!(!concat.is_commutative());
    /// ```
    fn is_commutative(&self) -> bool {
        true
    }

    /// Combines typed buffers element by element into `acc`: `other[i] ⊕ acc[i]` when
    /// `other` comes from lower ranks, `acc[i] ⊕ other[i]` otherwise. One call per buffer
    /// rather than per element, so the loop is compiled for the concrete operation (and
    /// vectorized where it can be) even when reached through `dyn Op`.
    ///
    /// ```
    /// use rmpi::collectives::{Max, Op};
    /// let mut acc = [1, 5];
    /// Max.combine_slices(&mut acc, &[3, 2], true);
    /// assert_eq!(acc, [3, 5]);
    /// ```
    fn combine_slices(&self, acc: &mut [T], other: &[T], other_is_lower: bool) {
        if other_is_lower {
            for (mine, theirs) in acc.iter_mut().zip(other) {
                *mine = self.apply(theirs, mine);
            }
        } else {
            for (mine, theirs) in acc.iter_mut().zip(other) {
                *mine = self.apply(mine, theirs);
            }
        }
    }
}

macro_rules! builtin {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name;
    };
}

builtin!(
    /// Sum (`MPI_SUM`).
    ///
    /// ```
    /// use rmpi::collectives::{Op, Sum};
    /// assert_eq!(Sum.apply(&2, &3), 5);
    /// assert_eq!(Sum.apply(&u8::MAX, &1), 0); // wraps
    /// ```
    Sum
);
builtin!(
    /// Product (`MPI_PROD`).
    ///
    /// ```
    /// use rmpi::collectives::{Op, Prod};
    /// assert_eq!(Prod.apply(&2.5, &4.0), 10.0);
    /// ```
    Prod
);
builtin!(
    /// Minimum (`MPI_MIN`).
    ///
    /// ```
    /// use rmpi::collectives::{Op, Min};
    /// assert_eq!(Min.apply(&-2, &3), -2);
    /// ```
    Min
);
builtin!(
    /// Maximum (`MPI_MAX`).
    ///
    /// ```
    /// use rmpi::collectives::{Op, Max};
    /// assert_eq!(Max.apply(&0.5, &-1.0), 0.5);
    /// ```
    Max
);
builtin!(
    /// Logical and, non-zero being true (`MPI_LAND`).
    ///
    /// ```
    /// use rmpi::collectives::{Op, LogicalAnd};
    /// assert_eq!(LogicalAnd.apply(&3, &0), 0);
    /// assert!(LogicalAnd.apply(&true, &true));
    /// ```
    LogicalAnd
);
builtin!(
    /// Logical or (`MPI_LOR`).
    ///
    /// ```
    /// use rmpi::collectives::{Op, LogicalOr};
    /// assert_eq!(LogicalOr.apply(&0, &7), 1);
    /// ```
    LogicalOr
);
builtin!(
    /// Logical exclusive or (`MPI_LXOR`).
    ///
    /// ```
    /// use rmpi::collectives::{Op, LogicalXor};
    /// assert_eq!(LogicalXor.apply(&5, &7), 0);
    /// ```
    LogicalXor
);
builtin!(
    /// Bitwise and (`MPI_BAND`).
    ///
    /// ```
    /// use rmpi::collectives::{Op, BitAnd};
    /// assert_eq!(BitAnd.apply(&0b1100u8, &0b1010), 0b1000);
    /// ```
    BitAnd
);
builtin!(
    /// Bitwise or (`MPI_BOR`).
    ///
    /// ```
    /// use rmpi::collectives::{Op, BitOr};
    /// assert_eq!(BitOr.apply(&0b1100u8, &0b1010), 0b1110);
    /// ```
    BitOr
);
builtin!(
    /// Bitwise exclusive or (`MPI_BXOR`).
    ///
    /// ```
    /// use rmpi::collectives::{Op, BitXor};
    /// assert_eq!(BitXor.apply(&0b1100u8, &0b1010), 0b0110);
    /// ```
    BitXor
);
builtin!(
    /// Minimum value with the lowest index holding it (`MPI_MINLOC`), on `(value, index)`.
    ///
    /// ```
    /// use rmpi::collectives::{Op, MinLoc};
    /// // Ties go to the lower index.
    /// assert_eq!(MinLoc.apply(&(1.5, 3), &(1.5, 2)), (1.5, 2));
    /// ```
    MinLoc
);
builtin!(
    /// Maximum value with the lowest index holding it (`MPI_MAXLOC`), on `(value, index)`.
    ///
    /// ```
    /// use rmpi::collectives::{Op, MaxLoc};
    /// assert_eq!(MaxLoc.apply(&(4, 0), &(9, 1)), (9, 1));
    /// ```
    MaxLoc
);

macro_rules! integer_ops {
    ($($t:ty),*) => {$(
        impl Op<$t> for Sum { fn apply(&self, a: &$t, b: &$t) -> $t { a.wrapping_add(*b) } }
        impl Op<$t> for Prod { fn apply(&self, a: &$t, b: &$t) -> $t { a.wrapping_mul(*b) } }
        impl Op<$t> for Min { fn apply(&self, a: &$t, b: &$t) -> $t { *a.min(b) } }
        impl Op<$t> for Max { fn apply(&self, a: &$t, b: &$t) -> $t { *a.max(b) } }
        impl Op<$t> for LogicalAnd { fn apply(&self, a: &$t, b: &$t) -> $t { (*a != 0 && *b != 0) as $t } }
        impl Op<$t> for LogicalOr { fn apply(&self, a: &$t, b: &$t) -> $t { (*a != 0 || *b != 0) as $t } }
        impl Op<$t> for LogicalXor { fn apply(&self, a: &$t, b: &$t) -> $t { ((*a != 0) != (*b != 0)) as $t } }
        impl Op<$t> for BitAnd { fn apply(&self, a: &$t, b: &$t) -> $t { a & b } }
        impl Op<$t> for BitOr { fn apply(&self, a: &$t, b: &$t) -> $t { a | b } }
        impl Op<$t> for BitXor { fn apply(&self, a: &$t, b: &$t) -> $t { a ^ b } }
    )*};
}

integer_ops!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

macro_rules! float_ops {
    ($($t:ty),*) => {$(
        impl Op<$t> for Sum { fn apply(&self, a: &$t, b: &$t) -> $t { a + b } }
        impl Op<$t> for Prod { fn apply(&self, a: &$t, b: &$t) -> $t { a * b } }
        impl Op<$t> for Min { fn apply(&self, a: &$t, b: &$t) -> $t { a.min(*b) } }
        impl Op<$t> for Max { fn apply(&self, a: &$t, b: &$t) -> $t { a.max(*b) } }
    )*};
}

float_ops!(f32, f64);

impl Op<bool> for LogicalAnd {
    fn apply(&self, a: &bool, b: &bool) -> bool {
        *a && *b
    }
}

impl Op<bool> for LogicalOr {
    fn apply(&self, a: &bool, b: &bool) -> bool {
        *a || *b
    }
}

impl Op<bool> for LogicalXor {
    fn apply(&self, a: &bool, b: &bool) -> bool {
        a != b
    }
}

impl<V: PartialOrd + Clone + Send + Sync, I: Ord + Clone + Send + Sync> Op<(V, I)> for MinLoc {
    fn apply(&self, a: &(V, I), b: &(V, I)) -> (V, I) {
        if b.0 < a.0 || (b.0 == a.0 && b.1 < a.1) {
            b.clone()
        } else {
            a.clone()
        }
    }
}

impl<V: PartialOrd + Clone + Send + Sync, I: Ord + Clone + Send + Sync> Op<(V, I)> for MaxLoc {
    fn apply(&self, a: &(V, I), b: &(V, I)) -> (V, I) {
        if b.0 > a.0 || (b.0 == a.0 && b.1 < a.1) {
            b.clone()
        } else {
            a.clone()
        }
    }
}

/// A value and the index holding it, laid out for typed buffers so that [`MinLoc`] and
/// [`MaxLoc`] work in `reduce_buf` and `allreduce_buf` (MPI's `MPI_2INT`, `MPI_FLOAT_INT`,
/// ...). It is plain old data for the pairs without padding: `(f32, i32)`, `(f32, u32)`,
/// `(f64, i64)`, `(f64, u64)`, `(i32, i32)`, `(u32, u32)`, `(i64, i64)`, `(u64, u64)`.
/// Objects can use `(value, index)` tuples instead.
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(3, |comm| async move {
/// use rmpi::collectives::{Located, MaxLoc};
/// let mine = [Located { value: comm.rank() as f64 * 1.5, index: comm.rank() as i64 }];
/// let mut best = [Located::default()];
/// comm.allreduce_buf(&mine, &mut best, MaxLoc).await?;
/// assert_eq!(best[0], Located { value: 3.0, index: 2 });
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Located<V, I> {
    /// The value compared.
    pub value: V,
    /// Where it came from (a rank, an element number, ...); the lowest wins ties.
    pub index: I,
}

macro_rules! located_pod {
    ($(($v:ty, $i:ty)),*) => {$(
        const _: () = assert!(
            std::mem::size_of::<Located<$v, $i>>()
                == std::mem::size_of::<$v>() + std::mem::size_of::<$i>()
        );
        // SAFETY: `Located` is `repr(C)` with two plain-old-data fields of equal size and
        // alignment, so it has no padding (checked above) and every bit pattern is valid.
        unsafe impl bytemuck::Zeroable for Located<$v, $i> {}
        // SAFETY: as above; both fields are `Pod` and `Copy`, and the type is `'static`.
        unsafe impl bytemuck::Pod for Located<$v, $i> {}
    )*};
}

located_pod!(
    (f32, i32),
    (f32, u32),
    (f64, i64),
    (f64, u64),
    (i32, i32),
    (u32, u32),
    (i64, i64),
    (u64, u64)
);

impl<V: PartialOrd + Copy + Send + Sync, I: Ord + Copy + Send + Sync> Op<Located<V, I>> for MinLoc {
    fn apply(&self, a: &Located<V, I>, b: &Located<V, I>) -> Located<V, I> {
        let (a2, b2) = ((a.value, a.index), (b.value, b.index));
        let (value, index) = self.apply(&a2, &b2);
        Located { value, index }
    }
}

impl<V: PartialOrd + Copy + Send + Sync, I: Ord + Copy + Send + Sync> Op<Located<V, I>> for MaxLoc {
    fn apply(&self, a: &Located<V, I>, b: &Located<V, I>) -> Located<V, I> {
        let (a2, b2) = ((a.value, a.index), (b.value, b.index));
        let (value, index) = self.apply(&a2, &b2);
        Located { value, index }
    }
}

/// A user-defined operation (`MPI_Op_create`) from a closure.
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(3, |comm| async move {
/// use rmpi::collectives::UserOp;
/// let gcd = UserOp::commutative(|a: &u64, b: &u64| {
///     let (mut a, mut b) = (*a, *b);
///     while b != 0 {
///         (a, b) = (b, a % b);
///     }
///     a
/// });
/// let common = comm.allreduce(12 * (comm.rank() as u64 + 1), gcd).await?;
/// assert_eq!(common, 12);
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct UserOp<F> {
    combine: F,
    commutative: bool,
}

impl<F> UserOp<F> {
    /// An operation whose operands may be combined in any order.
    ///
    /// ```
    /// use rmpi::collectives::{Op, UserOp};
    /// let larger = UserOp::commutative(|a: &i32, b: &i32| *a.max(b));
    /// assert_eq!(larger.apply(&2, &7), 7);
    /// ```
    pub fn commutative(combine: F) -> Self {
        UserOp {
            combine,
            commutative: true,
        }
    }

    /// An operation applied strictly in rank order: `((x0 ⊕ x1) ⊕ x2) …` up to associativity.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(3, |comm| async move {
    /// use rmpi::collectives::UserOp;
    /// let concat = UserOp::non_commutative(|a: &String, b: &String| format!("{a}{b}"));
    /// let word = comm.allreduce(comm.rank().to_string(), concat).await?;
    /// assert_eq!(word, "012");
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn non_commutative(combine: F) -> Self {
        UserOp {
            combine,
            commutative: false,
        }
    }
}

impl<T, F: Fn(&T, &T) -> T + Send + Sync> Op<T> for UserOp<F> {
    fn apply(&self, lower: &T, higher: &T) -> T {
        (self.combine)(lower, higher)
    }

    fn is_commutative(&self) -> bool {
        self.commutative
    }
}

impl<T, O: Op<T> + ?Sized> Op<T> for &O {
    fn apply(&self, lower: &T, higher: &T) -> T {
        (**self).apply(lower, higher)
    }

    fn is_commutative(&self) -> bool {
        (**self).is_commutative()
    }

    fn combine_slices(&self, acc: &mut [T], other: &[T], other_is_lower: bool) {
        (**self).combine_slices(acc, other, other_is_lower)
    }
}
