//! The expansion of a checked `#[duende::main]`: the user's function, renamed, and a `main` that
//! hands it to the runtime through the facade's `__private` module. Nothing else: all behaviour
//! lives in the runtime.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::{ItemFn, ReturnType};

use crate::validate::Main;

/// The name the user's `fn main` takes in the expansion.
const USER_FN: &str = "__duende_main";

/// `main` becomes the full program.
pub(crate) fn expand(main: &Main<'_>) -> TokenStream {
    let Main { options, func } = main;
    let krate = match &options.krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::duende),
    };
    let name = match &options.name {
        Some(lit) => lit.to_token_stream(),
        None => quote! {
            ::core::env!(
                "CARGO_BIN_NAME",
                "`#[duende::main]` without `name = \"...\"` names the service after the Cargo binary, and this is \
                 not a binary target; add `name = \"...\"`"
            )
        },
    };
    let mlock = Ident::new(options.mlock.variant(), Span::call_site());
    let run = Ident::new(if func.sig.asyncness.is_some() { "run_async" } else { "run_sync" }, Span::call_site());
    let daemon = daemon_type(func);
    let rest = if func.sig.asyncness.is_some() { quote!(, _) } else { TokenStream::new() };
    let build = Ident::new(USER_FN, Span::call_site());
    let cfgs = func.attrs.iter().filter(|attr| attr.path().is_ident("cfg"));
    // `pub fn main` in a module stays callable from outside it.
    let vis = &func.vis;
    let user = renamed(func);
    quote! {
        #user

        #(#cfgs)*
        #vis fn main() -> ::std::process::ExitCode {
            #krate::__private::#run::<#daemon #rest>(
                #krate::__private::MainOptions {
                    name: #name,
                    version: ::core::env!("CARGO_PKG_VERSION"),
                    description: ::core::env!("CARGO_PKG_DESCRIPTION"),
                    mlock: #krate::__private::MlockMode::#mlock,
                },
                #build,
            )
        }
    }
}

/// The user's function, unchanged but for its name.
pub(crate) fn renamed(func: &ItemFn) -> ItemFn {
    let mut func = func.clone();
    func.sig.ident = Ident::new(USER_FN, func.sig.ident.span());
    func
}

/// The daemon type, written out so that the runtime's `D: Daemon` bound is checked on the user's
/// own tokens: "`X` is not a duende daemon" then points at the return type, once. An
/// `impl Daemon` cannot be written there, and is left to inference.
fn daemon_type(func: &ItemFn) -> TokenStream {
    match &func.sig.output {
        ReturnType::Type(_, ty) if !mentions_impl(ty.to_token_stream()) => ty.to_token_stream(),
        _ => quote!(_),
    }
}

fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => mentions_impl(group.stream()),
        _ => false,
    })
}
