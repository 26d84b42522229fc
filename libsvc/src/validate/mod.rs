//! kube-apiserver's validation of Services, Endpoints and EndpointSlices.
//!
//! Messages are kube-apiserver's exact text (`field.path: Type: detail`);
//! each diagnostic carries the field path and the location it came from.

use crate::config::Settings;
use crate::diag::Diagnostic;
use crate::model::Objects;

/// Validates every object as a create (POST) would, in input order.
pub fn validate(_objects: &Objects, _settings: &Settings) -> Vec<Diagnostic> {
    Vec::new()
}
