//! kube-apiserver's validation of Services, Endpoints and EndpointSlices.
//!
//! Messages are kube-apiserver's exact text (`field.path: Type: detail`);
//! each diagnostic carries the field path and the location it came from.
//!
//! A Service goes through the create pipeline in order (see
//! `tests/conformance/README-env-dns-validate.md`): the v1 defaults
//! ([`defaults`]), then allocation ([`allocation`]: IP-family rules, the
//! requested cluster IPs and node ports), whose errors are the whole answer,
//! then `ValidateService` ([`service`]). Services are created in input
//! order, so when two claim the same cluster IP or node port the second one
//! gets the error, naming the first and where it asked for the value.
//! Services read from a cluster or a dump (`metadata.uid`, `resourceVersion`
//! or `creationTimestamp`) are stored objects: their values are taken as
//! allocated. Manifests written by hand are checked as a create, also when
//! they carry `spec.clusterIP` (`render` reports these errors as warnings).

pub mod allocation;
pub mod defaults;
pub mod endpoints;
pub mod field;
pub mod ip;
pub mod names;
pub mod service;

use crate::config::Settings;
use crate::diag::{Diagnostic, Severity};
use crate::model::Objects;
use crate::parse::Origin;
use field::FieldError;

/// Validates every object as a create (POST) would: Services in input
/// order, then Endpoints, then EndpointSlices.
pub fn validate(objects: &Objects, settings: &Settings) -> Vec<Diagnostic> {
    let created = allocation::allocate_services(&objects.services, settings);
    validate_created(objects, created.errors)
}

/// [`validate`] with the create path already run
/// ([`allocation::allocate_services`]'s errors, by Service in input order):
/// `load` runs it once for validation and the table.
pub fn validate_created(objects: &Objects, created: Vec<Vec<FieldError>>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (svc, errs) in objects.services.iter().zip(created) {
        let key = || format!("Service {}/{}", svc.meta.namespace(), svc.meta.name);
        push(&mut out, errs, key, &svc.origin);
    }
    for ep in &objects.endpoints {
        let key = || format!("Endpoints {}/{}", ep.meta.namespace(), ep.meta.name);
        push(&mut out, endpoints::validate_endpoints(ep), key, &ep.origin);
    }
    for slice in &objects.endpoint_slices {
        let key = || {
            format!(
                "EndpointSlice {}/{}",
                slice.meta.namespace(),
                slice.meta.name
            )
        };
        push(
            &mut out,
            endpoints::validate_endpoint_slice(slice),
            key,
            &slice.origin,
        );
    }
    out
}

/// Turns field errors into diagnostics. kube-apiserver prints an identical
/// message once. `object` names the object (made only when there are errors).
fn push(
    out: &mut Vec<Diagnostic>,
    errs: Vec<FieldError>,
    object: impl Fn() -> String,
    origin: &Origin,
) {
    if errs.is_empty() {
        return;
    }
    let object = object();
    let mut seen = std::collections::BTreeSet::new();
    for e in errs {
        let message = e.to_string();
        if !seen.insert(message.clone()) {
            continue;
        }
        let at = e.at.as_deref().unwrap_or(&e.field);
        out.push(Diagnostic {
            severity: Severity::Error,
            message,
            field: Some(e.field.clone()),
            object: Some(object.clone()),
            location: Some(origin.locate(at)),
        });
    }
}
