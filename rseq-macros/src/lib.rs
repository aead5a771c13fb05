//! `#[rseq_critical]`: turns a small Rust DSL into restartable-sequence critical sections.
//!
//! The attribute goes on an `unsafe fn` whose body reads an index (`cpu_id()` or `mm_cid()`),
//! computes addresses in ordinary Rust (the *prelude*), then states the critical section in a
//! restricted statement language ending in exactly one commit. The macro checks the section
//! (every rule is a compile error on the offending tokens), then emits one inline-assembly
//! block per target architecture with its `struct rseq_cs` descriptor, the abort handler
//! preceded by the signature, and the `__rseq_cs_ptr_array` / `__rseq_exit_point_array`
//! entries. The language is specified in `DSL.md` next to this crate's manifest.
//!
//! The generated code refers to `::rseq_abi` (the thread area and the uapi constants), so a
//! crate using the attribute depends on `rseq-abi`, which re-exports it as
//! `rseq_abi::rseq_critical` (feature `percpu`).
//!
//! Phases, one module each: [`attr`] (attribute arguments) and [`parse`] (function body →
//! [`ir`]), [`validate`] (every semantic rule, all errors combined), [`expand`] (Rust
//! wrapper and operands) over [`backend`] (one file per architecture behind one trait), and
//! [`fallback`] (a harmless stub emitted next to the errors).
#![deny(unsafe_code)]

mod attr;
mod backend;
mod expand;
mod fallback;
mod ir;
mod parse;
mod validate;

use proc_macro::TokenStream;

/// Turns an `unsafe fn` written in the critical-section language into a restartable sequence.
///
/// See the crate documentation and `DSL.md` for the language.
#[proc_macro_attribute]
pub fn rseq_critical(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let input = proc_macro2::TokenStream::from(input);
    match run(args, input.clone()) {
        Ok(tokens) => tokens.into(),
        Err(err) => fallback::stub(&input, err).into(),
    }
}

fn run(
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> syn::Result<proc_macro2::TokenStream> {
    let attr = attr::parse_args(args);
    let item: syn::ItemFn = syn::parse2(input)?;
    let parsed = parse::parse_fn(item);
    let (attr, critical) = match (attr, parsed) {
        (Ok(a), Ok(c)) => (a, c),
        (Err(mut a), Err(c)) => {
            a.combine(c);
            return Err(a);
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    validate::check(&critical)?;
    Ok(expand::expand(&attr, &critical))
}
