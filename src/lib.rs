//! sae-deploy-trigger: a Spin HTTP component that redeploys Alibaba Cloud
//! Serverless App Engine (SAE) applications when an image is pushed to
//! Alibaba Cloud Container Registry (ACR).
//!
//! One request runs through these steps, one module each:
//!
//! | step | module |
//! |---|---|
//! | intake: method, path, query, size limits | [`intake`] |
//! | authenticate: token in the URL or a bearer header | [`auth`] |
//! | parse and normalize the ACR body | [`webhook`], [`webhook_fields`], [`reference`] |
//! | settings from Spin variables | [`config`] |
//! | route: which apps, tag policies, region, image | [`plan`], [`routes`], [`policy`], [`target`] |
//! | exactly once: claims on the key-value store | [`dedup`], [`expiry`], [`store`] |
//! | build and sign the SAE call | [`sae`], [`signer`] |
//! | send, retry what SAE did not act on, read the answer | [`flow`], [`deploy`], [`retry`], [`sae_response`] |
//! | answer and log | [`answers`], [`answer`], [`logline`] |
//!
//! Beside the trigger: [`explain`] (dry run) and [`views`] (history,
//! change order status, health), with [`history`] on the store.
//!
//! [`flow`] runs the steps over a `Platform` trait. Everything above is pure
//! and tested on the host target; only `edge` calls spin-sdk (variables,
//! clock, randomness, outbound HTTP, key-value) and it is built for `wasm32`
//! only.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
// Off wasm32 the crate is built only for tests, fuzzing and benchmarks, which
// leave the request flow unused.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

pub(crate) mod answer;
pub(crate) mod answers;
pub(crate) mod auth;
pub(crate) mod config;
pub(crate) mod dedup;
pub(crate) mod deploy;
pub(crate) mod expiry;
pub(crate) mod explain;
pub(crate) mod flow;
pub(crate) mod glob;
pub(crate) mod history;
pub(crate) mod intake;
pub(crate) mod logline;
pub(crate) mod plan;
pub(crate) mod policy;
pub(crate) mod reference;
pub(crate) mod retry;
pub(crate) mod routes;
pub(crate) mod sae;
pub(crate) mod sae_response;
pub(crate) mod semver;
pub(crate) mod signer;
pub(crate) mod store;
pub(crate) mod strict_json;
pub(crate) mod target;
pub(crate) mod views;
pub(crate) mod webhook;
pub(crate) mod webhook_fields;

#[cfg(target_arch = "wasm32")]
mod edge;

#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals;
