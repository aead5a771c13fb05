//! The attribute's own arguments: `#[rseq_critical]`, `#[rseq_critical(on_abort = retry)]`
//! or `#[rseq_critical(on_abort = return EXPR)]`.

use syn::parse::{Parse, ParseStream, Parser};
use syn::{Expr, Token};

mod kw {
    syn::custom_keyword!(on_abort);
    syn::custom_keyword!(retry);
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
}

impl Parse for Attr {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut on_abort = None;
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::on_abort) {
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
        })
    }
}

/// Parses the attribute's argument tokens.
pub(crate) fn parse_args(args: proc_macro2::TokenStream) -> syn::Result<Attr> {
    Attr::parse.parse2(args)
}
