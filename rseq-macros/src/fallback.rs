//! What the attribute emits when the function was rejected: the errors, plus the function
//! with its body replaced by `unimplemented!()`, so that callers still type-check
//! and the user sees the real error once instead of a cascade of "cannot find function".

use proc_macro2::TokenStream;
use quote::quote;

/// The errors and a stub with the same signature (when the input parses as a function).
pub(crate) fn stub(input: &TokenStream, err: syn::Error) -> TokenStream {
    let errors = err.to_compile_error();
    let Ok(mut item) = syn::parse2::<syn::ItemFn>(input.clone()) else {
        return errors;
    };
    // `const fn` and `async fn` are rejected; a plain stub keeps the error single.
    item.sig.constness = None;
    item.sig.asyncness = None;
    for arg in &mut item.sig.inputs {
        if let syn::FnArg::Typed(pat) = arg {
            pat.attrs.retain(|a| !a.path().is_ident("speculative"));
            // The stub does not use its parameters.
            if let syn::Pat::Ident(id) = &mut *pat.pat {
                id.mutability = None;
            }
        }
    }
    let attrs = &item.attrs;
    let vis = &item.vis;
    let sig = &item.sig;
    quote! {
        #errors
        #(#attrs)*
        #[allow(unused_variables)]
        #vis #sig {
            ::core::unimplemented!("rejected by #[rseq_critical]")
        }
    }
}
