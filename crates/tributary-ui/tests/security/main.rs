//! What the UI server answers, and to whom: the token on every route, the Host check, the
//! security headers, escaped values and links that keep the token.

#[path = "../common/mod.rs"]
mod common;

mod access;
mod pages;
