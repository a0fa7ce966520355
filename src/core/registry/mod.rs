//! The registry on disk: its layout ([`layout`]), opening its files without trusting them
//! ([`files`], [`json`]), the documents a bundle holds and their schemas ([`documents`],
//! [`schema`]), the scan that indexes it ([`scan`]), integrity manifests ([`manifest`]), and
//! opened bundles ([`bundle`]) with their reload after a rescan ([`reload`]).

pub mod bundle;
pub mod documents;
pub mod files;
pub mod json;
pub mod layout;
pub mod manifest;
pub mod reload;
pub mod scan;
pub mod schema;
