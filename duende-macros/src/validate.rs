//! Checks the options and the function against the contract: a plain, non-generic, parameterless
//! `fn main` (sync or `async`) that returns the daemon it builds. Whether the returned type really
//! is a daemon is left to the type checker (see `expand`).

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, FnArg, Item, ItemFn, ReturnType, Signature, Type};

use crate::errors::Errors;
use crate::options::{self, Options};
use crate::parse::Input;

/// A `#[duende::main]` that passed every check.
pub(crate) struct Main<'a> {
    /// The checked options.
    pub(crate) options: Options,
    /// The user's `fn main`.
    pub(crate) func: &'a ItemFn,
}

/// Every mistake in `input`, combined, or the checked [`Main`].
pub(crate) fn validate(input: &Input) -> syn::Result<Main<'_>> {
    let mut errors = Errors::default();
    let options = match &input.args {
        Ok(metas) => options::parse(metas, &mut errors),
        Err(error) => {
            errors.push(error.clone());
            Options::default()
        }
    };
    let func = match &input.item {
        Ok(Item::Fn(func)) => func,
        Ok(item) => return Err(errors.with(not_a_fn(item))),
        Err(error) => return Err(errors.with(error.clone())),
    };
    check_fn(func, &mut errors);
    errors.finish()?;
    Ok(Main { options, func })
}

/// Another entry-point attribute on the same function (`#[tokio::main]`, a second
/// `#[duende::main]`): it would fight this one over who writes `main`.
pub(crate) fn is_entry_attribute(attr: &Attribute) -> bool {
    let segments = &attr.path().segments;
    segments.len() > 1 && segments.last().is_some_and(|last| last.ident == "main")
}

fn not_a_fn(item: &Item) -> syn::Error {
    let (what, tokens): (&str, TokenStream) = match item {
        Item::Struct(item) => ("a struct", head(&item.struct_token, &item.ident)),
        Item::Enum(item) => ("an enum", head(&item.enum_token, &item.ident)),
        Item::Union(item) => ("a union", head(&item.union_token, &item.ident)),
        Item::Trait(item) => ("a trait", head(&item.trait_token, &item.ident)),
        Item::Impl(item) => ("an impl block", head(&item.impl_token, &item.self_ty)),
        Item::Mod(item) => ("a module", head(&item.mod_token, &item.ident)),
        Item::Const(item) => ("a const", head(&item.const_token, &item.ident)),
        Item::Static(item) => ("a static", head(&item.static_token, &item.ident)),
        Item::Type(item) => ("a type alias", head(&item.type_token, &item.ident)),
        Item::Use(item) => ("a `use`", item.to_token_stream()),
        other => ("this item", other.to_token_stream()),
    };
    let message = format!(
        "`#[duende::main]` goes on `fn main`, not on {what}; put it on a `fn main() -> MyDaemon` whose body builds \
         the daemon"
    );
    syn::Error::new_spanned(tokens, message)
}

/// The tokens of an item's keyword and name, to point at `struct Foo` rather than its whole body.
fn head(keyword: &impl ToTokens, name: &impl ToTokens) -> TokenStream {
    let mut tokens = keyword.to_token_stream();
    name.to_tokens(&mut tokens);
    tokens
}

fn check_fn(func: &ItemFn, errors: &mut Errors) {
    for attr in func.attrs.iter().filter(|attr| is_entry_attribute(attr)) {
        let written = attr.path().to_token_stream().to_string().replace(' ', "");
        let message = if written.ends_with("duende::main") {
            "`#[duende::main]` is given twice; remove one".to_owned()
        } else {
            format!(
                "`#[{written}]` cannot be combined with `#[duende::main]`, which starts the async runtime itself; \
                 remove `#[{written}]` (an `async fn main` stays `async`)"
            )
        };
        errors.push(syn::Error::new_spanned(attr, message));
    }
    let sig = &func.sig;
    if sig.ident != "main" {
        let message = format!("`#[duende::main]` goes on `fn main`, not on `fn {}`; rename it to `main`", sig.ident);
        errors.push(syn::Error::new_spanned(&sig.ident, message));
    }
    let qualifier = "`#[duende::main] fn main` cannot be";
    if let Some(token) = &sig.constness {
        errors.push(syn::Error::new_spanned(token, format!("{qualifier} `const`; remove `const`")));
    }
    if let Some(token) = &sig.unsafety {
        let message =
            format!("{qualifier} `unsafe`; remove `unsafe` and put unsafe calls in `unsafe {{ ... }}` blocks");
        errors.push(syn::Error::new_spanned(token, message));
    }
    if let Some(abi) = &sig.abi {
        let written = abi.to_token_stream().to_string();
        let message = format!("{qualifier} `{written}`; remove `{written}`, the generated `main` is the entry point");
        errors.push(syn::Error::new_spanned(abi, message));
    }
    check_generics(sig, errors);
    check_inputs(sig, errors);
    check_output(sig, errors);
}

fn check_generics(sig: &Signature, errors: &mut Errors) {
    let generics = &sig.generics;
    if !generics.params.is_empty() {
        let message = "`#[duende::main] fn main` cannot be generic; remove its generic parameters and return the \
                       concrete daemon type";
        errors.push(syn::Error::new_spanned(generics, message));
    }
    if let Some(clause) = &generics.where_clause {
        let message = "`#[duende::main] fn main` cannot have a `where` clause; remove it and return the concrete \
                       daemon type";
        errors.push(syn::Error::new_spanned(clause, message));
    }
}

fn check_inputs(sig: &Signature, errors: &mut Errors) {
    if let Some(receiver) = sig.inputs.iter().find(|arg| matches!(arg, FnArg::Receiver(_))) {
        let message = "`#[duende::main]` goes on the free function `fn main`, not on a method; remove `self` and \
                       move the function out of the `impl` block";
        errors.push(syn::Error::new_spanned(receiver, message));
    } else if !sig.inputs.is_empty() {
        let message = "`#[duende::main] fn main` takes no parameters; remove them (the generated `main` parses the \
                       command line, and the daemon reads its settings through `DaemonContext`)";
        errors.push(syn::Error::new_spanned(&sig.inputs, message));
    }
    if let Some(variadic) = &sig.variadic {
        let message = "`#[duende::main] fn main` takes no parameters; remove `...`";
        errors.push(syn::Error::new_spanned(variadic, message));
    }
}

fn check_output(sig: &Signature, errors: &mut Errors) {
    let example = "like `fn main() -> MyDaemon { MyDaemon::default() }`";
    match &sig.output {
        ReturnType::Default => {
            let mut tokens = sig.ident.to_token_stream();
            sig.paren_token.surround(&mut tokens, |inner| sig.inputs.to_tokens(inner));
            let message =
                format!("`#[duende::main] fn main` must return the daemon it builds; add its type, {example}");
            errors.push(syn::Error::new_spanned(tokens, message));
        }
        ReturnType::Type(_, ty) if matches!(&**ty, Type::Tuple(unit) if unit.elems.is_empty()) => {
            let message = format!(
                "`#[duende::main] fn main` must return the daemon it builds, not `()`; return the daemon value, {example}"
            );
            errors.push(syn::Error::new_spanned(&sig.output, message));
        }
        ReturnType::Type(..) => {}
    }
}
