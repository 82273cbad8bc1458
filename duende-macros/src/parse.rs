//! Syntax only: the attribute's arguments as a list of [`Meta`], the item as a [`syn::Item`].

use proc_macro2::TokenStream;
use syn::parse::Parser as _;
use syn::punctuated::Punctuated;
use syn::{Item, Meta, Token};

/// What the attribute was given.
pub(crate) struct Input {
    /// The options as written, or why they do not parse.
    pub(crate) args: syn::Result<Vec<Meta>>,
    /// The item under the attribute, or why it does not parse.
    pub(crate) item: syn::Result<Item>,
    /// The item's tokens, emitted unchanged when they do not parse.
    pub(crate) tokens: TokenStream,
}

/// Parses the attribute's arguments and the item it sits on; a failure of either is kept, not
/// returned, so that the other can still be checked.
pub(crate) fn parse(args: TokenStream, item: TokenStream) -> Input {
    let args = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args).map(|list| list.into_iter().collect());
    let args = args.map_err(|error| {
        let message = format!(
            "{error}; `duende::main` options are written `key = \"value\"` and separated by commas, like \
             `#[duende::main(name = \"counter\", mlock = \"best-effort\")]`"
        );
        syn::Error::new(error.span(), message)
    });
    Input { args, item: syn::parse2(item.clone()), tokens: item }
}
