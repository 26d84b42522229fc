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
//! Services that carry `spec.clusterIP` are objects as stored; they are
//! still checked as a create of that manifest would be (`render` reports
//! these errors as warnings).

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
use allocation::Allocations;
use defaults::Svc;
use field::FieldError;

/// Validates every object as a create (POST) would: Services in input
/// order, then Endpoints, then EndpointSlices.
pub fn validate(objects: &Objects, settings: &Settings) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut allocations = Allocations::default();
    for svc in &objects.services {
        let key = format!("{}/{}", svc.meta.namespace(), svc.meta.name);
        let errs = match create_service(svc, settings, &allocations) {
            Ok(reserved) => {
                allocations.commit(&key, reserved);
                continue;
            }
            Err(errs) => errs,
        };
        push(&mut out, errs, &format!("Service {key}"), &svc.origin);
    }
    for ep in &objects.endpoints {
        let key = format!("Endpoints {}/{}", ep.meta.namespace(), ep.meta.name);
        push(
            &mut out,
            endpoints::validate_endpoints(ep),
            &key,
            &ep.origin,
        );
    }
    for slice in &objects.endpoint_slices {
        let key = format!(
            "EndpointSlice {}/{}",
            slice.meta.namespace(),
            slice.meta.name
        );
        push(
            &mut out,
            endpoints::validate_endpoint_slice(slice),
            &key,
            &slice.origin,
        );
    }
    out
}

/// The field errors kube-apiserver answers to a create of `svc`, or what
/// the create reserved.
pub fn create_service(
    svc: &crate::model::Service,
    settings: &Settings,
    allocations: &Allocations,
) -> Result<allocation::Reserved, Vec<FieldError>> {
    let mut s = Svc::from(svc);
    let reserved = allocations.allocate_create(&mut s, settings)?;
    let errs = service::validate_service(&s);
    if errs.is_empty() {
        Ok(reserved)
    } else {
        Err(errs)
    }
}

/// Turns field errors into diagnostics. kube-apiserver prints an identical
/// message once.
fn push(out: &mut Vec<Diagnostic>, errs: Vec<FieldError>, object: &str, origin: &Origin) {
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
            object: Some(object.to_string()),
            location: Some(origin.locate(at)),
        });
    }
}
