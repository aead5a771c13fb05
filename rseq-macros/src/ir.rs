//! The parsed form of an annotated function: the index read, the prelude (ordinary Rust), the
//! section as a list of operations, and the tail. Every node keeps the user's tokens so that
//! validation can point at them.

use proc_macro2::Span;
use syn::{Expr, Ident, ItemFn, Stmt};

/// Which field of `struct rseq` the section is bound to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum IndexKind {
    /// `cpu_id` (read before the section from `cpu_id_start`).
    CpuId,
    /// `mm_cid`, the memory-map concurrency id.
    MmCid,
}

/// `let NAME = cpu_id();` or `let NAME = mm_cid();`.
pub(crate) struct Index {
    pub(crate) kind: IndexKind,
    pub(crate) name: Ident,
}

/// A function parameter or prelude binding the section may read.
pub(crate) struct Input {
    pub(crate) name: Ident,
    /// Declared `#[speculative]`: the section may store to the memory it points to.
    pub(crate) speculative: bool,
}

/// A value operand.
#[derive(Clone)]
pub(crate) enum Operand {
    /// A name: an input or a load.
    Name(Ident),
    /// An integer literal (any `u64`: `0x8000_0000_0000_0000` is one word).
    Lit(u64, Span),
    /// Anything else (rejected by validation).
    Other(Expr),
}

/// An address operand: `NAME` or `NAME.byte_add(OFF)`.
#[derive(Clone)]
pub(crate) struct Addr {
    pub(crate) base: Operand,
    pub(crate) offset: Option<Operand>,
}

/// How a copy's length is bounded.
pub(crate) enum Len {
    /// An integer literal.
    Lit(u64, Span),
    /// `memcpy::<MAX>(.., len)`: a runtime length checked against `MAX` before the section.
    Bounded { len: Operand, max: Box<Expr> },
    /// A runtime length with no bound (rejected).
    Unbounded(Operand),
}

/// The commit flavours.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum CommitKind {
    /// `commit(addr, value)`: a plain store.
    Store,
    /// `commit_release(addr, value)`: a store-release.
    Release,
    /// `commit_add(addr, value)`: `*addr += value`, ending in the store.
    Add,
}

/// Why a statement cannot be part of a section.
pub(crate) enum Bad {
    /// A call (function, method or macro) that is not one of the language's operations.
    Call(Span, String),
    /// A loop.
    Loop(Span),
    /// A statement whose error was already reported while parsing.
    Reported(Span),
    /// Any other statement, with the message saying which form is allowed.
    Other(Span, String),
}

/// One statement of the section.
pub(crate) enum Op {
    /// `let name = load(addr);`
    Load { name: Ident, addr: Addr },
    /// `if lhs ==/!= rhs { return value; }`
    Exit {
        lhs: Operand,
        rhs: Operand,
        /// Exit when equal (`==`); otherwise when not equal.
        eq: bool,
        value: Box<Expr>,
        span: Span,
    },
    /// `store(addr, value);`
    Store {
        addr: Addr,
        value: Operand,
        span: Span,
    },
    /// `memcpy(dst, src, len);`
    Memcpy {
        dst: Addr,
        src: Box<Addr>,
        len: Len,
        span: Span,
    },
    /// The commit.
    Commit {
        kind: CommitKind,
        addr: Addr,
        value: Operand,
        span: Span,
    },
    /// Something the language does not allow.
    Bad(Bad),
    /// A `let` the language does not allow, binding `name` (treated as a load afterwards, so
    /// that its uses do not report the same mistake again).
    BadLet(Ident, Bad),
}

/// An annotated function after parsing.
pub(crate) struct Critical {
    /// The function, with `#[speculative]` attributes removed from its parameters; its body
    /// is not used (see `prelude`, `ops`, `tail`).
    pub(crate) item: ItemFn,
    pub(crate) index: Index,
    /// Parameters and prelude bindings, in order (a later one shadows an earlier one).
    pub(crate) inputs: Vec<Input>,
    /// Ordinary Rust before the section, `#[speculative]` removed.
    pub(crate) prelude: Vec<Stmt>,
    pub(crate) ops: Vec<Op>,
    pub(crate) tail: Option<Expr>,
    /// Where a tail is missing: the body's closing brace (reported when the section
    /// commits with nothing after it).
    pub(crate) body_end: Span,
    /// Errors found while splitting the body (an index read again, a language operation
    /// nested in the prelude), reported with the validation errors.
    pub(crate) errors: Vec<syn::Error>,
    /// A rejected statement called a commit (no "without a commit" error on top of it).
    pub(crate) bad_commit: bool,
}
