//! What a rejected `#[duende::main]` expands to: the errors, the user's function and a stub
//! `fn main() {}`, so that the user sees our messages and no cascade of secondary errors (a missing
//! `main`, an unused import, a `const fn` calling non-`const` code).

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Item, ItemFn};

use crate::expand::renamed;
use crate::parse::Input;
use crate::validate::is_entry_attribute;

/// `error` plus the closest harmless stand-in for what the user wrote.
pub(crate) fn expand(input: &Input, error: syn::Error) -> TokenStream {
    let error = error.into_compile_error();
    let Ok(Item::Fn(func)) = &input.item else {
        let tokens = &input.tokens;
        return quote! {
            #error
            #tokens
        };
    };
    let func = stand_in(func);
    quote! {
        #error

        #[allow(dead_code)]
        #func

        fn main() {}
    }
}

/// The user's function, renamed if it is `main`, without what can only fail again on its own:
/// other entry-point attributes, `const`, an ABI and `...`.
fn stand_in(func: &ItemFn) -> ItemFn {
    let mut func = if func.sig.ident == "main" { renamed(func) } else { func.clone() };
    func.attrs.retain(|attr| !is_entry_attribute(attr));
    func.sig.constness = None;
    func.sig.abi = None;
    func.sig.variadic = None;
    func
}
