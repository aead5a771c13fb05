//! The attribute's own arguments, comma-separated, each at most once:
//! `on_abort = retry` (the default) or `on_abort = return EXPR`, and
//! `abort_counter = PATH` (a `static` `AtomicU64` or `AtomicUsize` counting aborts).

use syn::parse::{Parse, ParseStream, Parser};
use syn::{Expr, Token};

mod kw {
    syn::custom_keyword!(on_abort);
    syn::custom_keyword!(retry);
    syn::custom_keyword!(abort_counter);
}

/// What an abort does.
pub(crate) enum OnAbort {
    /// Read the index again, re-run the prelude and the section (the default).
    Retry,
    /// Return this value (of the function's return type) to the caller.
    Return(Box<Expr>),
}

/// The parsed attribute arguments.
pub(crate) struct Attr {
    pub(crate) on_abort: OnAbort,
    /// `abort_counter = PATH`: incremented (relaxed) on the abort path only.
    pub(crate) abort_counter: Option<syn::Path>,
}

impl Parse for Attr {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut on_abort = None;
        let mut abort_counter = None;
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::abort_counter) {
                let key: kw::abort_counter = input.parse()?;
                input.parse::<Token![=]>()?;
                let path: syn::Path = input.parse()?;
                if abort_counter.is_some() {
                    return Err(syn::Error::new(key.span, "`abort_counter` is given twice"));
                }
                abort_counter = Some(path);
            } else if lookahead.peek(kw::on_abort) {
                let key: kw::on_abort = input.parse()?;
                input.parse::<Token![=]>()?;
                let lookahead = input.lookahead1();
                let value = if lookahead.peek(kw::retry) {
                    input.parse::<kw::retry>()?;
                    OnAbort::Retry
                } else if lookahead.peek(Token![return]) {
                    input.parse::<Token![return]>()?;
                    OnAbort::Return(Box::new(input.parse()?))
                } else {
                    return Err(lookahead.error());
                };
                if on_abort.is_some() {
                    return Err(syn::Error::new(key.span, "`on_abort` is given twice"));
                }
                on_abort = Some(value);
            } else {
                return Err(lookahead.error());
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(Attr {
            on_abort: on_abort.unwrap_or(OnAbort::Retry),
            abort_counter,
        })
    }
}

/// Parses the attribute's argument tokens.
pub(crate) fn parse_args(args: proc_macro2::TokenStream) -> syn::Result<Attr> {
    Attr::parse.parse2(args)
}
