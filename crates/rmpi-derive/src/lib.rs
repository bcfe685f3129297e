//! `#[derive(Equivalence)]` for rmpi (use it as `rmpi::datatype::Equivalence`): a struct
//! whose fields are plain data, padding and all, sent field by field as MPI's struct
//! datatypes send it (rsmpi's `Equivalence`). See the trait's documentation in `rmpi`.
//!
//! ```
//! use rmpi::datatype::Equivalence;
//! #[derive(Equivalence, Clone, Copy)]
//! struct Particle { alive: bool, mass: f64 }
//!
//! let results = rmpi::local::run(2, |comm| async move {
//!     if comm.rank() == 0 {
//!         comm.send_packed(&[Particle { alive: true, mass: 2.0 }], 1, 0).await?;
//!         Ok(0.0)
//!     } else {
//!         Ok::<_, rmpi::Error>(comm.recv_packed::<Particle>(0, 0).await?.0[0].mass)
//!     }
//! });
//! assert_eq!(*results[1].as_ref().unwrap(), 2.0);
//! # Ok::<(), rmpi::Error>(())
//! ```
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Fields, Index};

/// Implements `rmpi::datatype::Equivalence` for a struct whose fields all implement it:
/// its packed form is its fields' packed forms in declaration order, without padding.
///
/// ```
/// use rmpi::datatype::Equivalence;
/// #[derive(Equivalence, Clone, Copy)]
/// struct Cell { wall: bool, temperature: f64, neighbours: [u32; 4] }
/// assert_eq!(Cell::PACKED_SIZE, 1 + 8 + 16); // in memory it takes 32
/// ```
#[proc_macro_derive(Equivalence)]
pub fn derive_equivalence(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "Equivalence can be derived for structs only",
        ));
    };
    let trait_path = quote!(::rmpi::datatype::Equivalence);
    let name = &input.ident;
    let types: Vec<&syn::Type> = data.fields.iter().map(|field| &field.ty).collect();
    let accessors: Vec<Tokens> = data
        .fields
        .iter()
        .enumerate()
        .map(|(index, field)| match &field.ident {
            Some(ident) => quote!(#ident),
            None => {
                let index = Index::from(index);
                quote!(#index)
            }
        })
        .collect();
    // Each field is read from its run of the packed bytes, in order.
    let reads = types.iter().map(|ty| {
        quote! {{
            let size = <#ty as #trait_path>::PACKED_SIZE;
            let value = <#ty as #trait_path>::unpack_from(&bytes[at..at + size]);
            at += size;
            value
        }}
    });
    let build = match &data.fields {
        Fields::Named(_) => quote!(Self { #(#accessors: #reads),* }),
        Fields::Unnamed(_) => quote!(Self( #(#reads),* )),
        Fields::Unit => quote!(Self),
    };
    let mut generics = input.generics.clone();
    {
        let clause = generics.make_where_clause();
        for ty in &types {
            clause.predicates.push(syn::parse_quote!(#ty: #trait_path));
        }
        clause
            .predicates
            .push(syn::parse_quote!(Self: Copy + Send + Sync + 'static));
    }
    let (impl_generics, type_generics, where_clause) = generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #trait_path for #name #type_generics #where_clause {
            const PACKED_SIZE: usize = 0 #(+ <#types as #trait_path>::PACKED_SIZE)*;

            #[allow(unused_assignments, unused_mut, unused_variables)]
            fn pack_into(&self, out: &mut [u8]) {
                let mut at = 0;
                #(
                    let size = <#types as #trait_path>::PACKED_SIZE;
                    <#types as #trait_path>::pack_into(&self.#accessors, &mut out[at..at + size]);
                    at += size;
                )*
            }

            #[allow(unused_assignments, unused_mut, unused_variables)]
            fn unpack_from(bytes: &[u8]) -> Self {
                let mut at = 0;
                #build
            }
        }
    })
}
