//! `kubectl get pods [-o wide]`: the Pods of the input and the ones
//! simulated from workloads, column for column as kubectl's pod printer
//! prints them (pkg/printers/internalversion/printers.go printPod).
//!
//! What the input does not carry is printed as kubectl prints its absence:
//! RESTARTS `0` (no containerStatuses are read), READY counts every
//! container ready when the Pod's Ready condition is True and none
//! otherwise, NOMINATED NODE and READINESS GATES `<none>`.
//!
//! Simulated Pods are not marked inside the table, so that it stays what
//! kubectl prints; [`simulated_note`] says which rows are simulated (the
//! CLI prints it on stderr), and each simulated Pod carries the annotation
//! `svcgen/simulated-from: Kind/name`.

use super::{Namespaces, UNKNOWN_AGE, table};
use crate::Loaded;
use crate::model::Pod;

fn listed<'a>(loaded: &'a Loaded, ns: &Namespaces, name: Option<&str>) -> Vec<&'a Pod> {
    let mut pods: Vec<&Pod> = loaded
        .objects
        .pods
        .iter()
        .filter(|p| ns.includes(p.meta.namespace()))
        .filter(|p| name.is_none_or(|n| p.meta.name == n))
        .collect();
    // The API server lists in key order: namespace, then name.
    pods.sort_by(|a, b| {
        (a.meta.namespace(), a.meta.name.as_str()).cmp(&(b.meta.namespace(), b.meta.name.as_str()))
    });
    pods.dedup_by(|a, b| a.meta.namespace() == b.meta.namespace() && a.meta.name == b.meta.name);
    pods
}

/// STATUS: the phase, or `Terminating` for a Pod being deleted that has not
/// finished.
fn status(pod: &Pod) -> String {
    let phase = pod.phase.clone().unwrap_or_default();
    let terminal = matches!(phase.as_str(), "Succeeded" | "Failed");
    if pod.meta.deleting && !terminal {
        "Terminating".into()
    } else {
        phase
    }
}

/// What `kubectl get pods` prints (`wide`: `-o wide`); empty when no Pod matches.
pub fn get_pods(loaded: &Loaded, ns: &Namespaces, name: Option<&str>, wide: bool) -> String {
    let rows = listed(loaded, ns, name)
        .into_iter()
        .map(|p| {
            let ready = if p.ready == Some(true) {
                p.containers
            } else {
                0
            };
            let mut cells = vec![
                p.meta.name.clone(),
                format!("{ready}/{}", p.containers),
                status(p),
                "0".into(),
                UNKNOWN_AGE.into(),
            ];
            if wide {
                let none = || "<none>".to_string();
                cells.push(p.pod_ips.first().cloned().unwrap_or_else(none));
                cells.push(
                    p.node_name
                        .clone()
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(none),
                );
                cells.push(none());
                cells.push(none());
            }
            (p.meta.namespace().to_string(), cells)
        })
        .collect();
    let mut headers = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
    if wide {
        headers.extend(["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]);
    }
    table(&headers, rows, ns)
}

/// A line saying which of the listed Pods svcgen simulated from workloads
/// (none: `None`).
pub fn simulated_note(loaded: &Loaded, ns: &Namespaces, name: Option<&str>) -> Option<String> {
    let pods = listed(loaded, ns, name);
    let simulated: Vec<&str> = pods
        .iter()
        .filter(|p| p.simulated)
        .map(|p| p.meta.name.as_str())
        .collect();
    if simulated.is_empty() {
        return None;
    }
    let which = if simulated.len() == pods.len() {
        "all of them".to_string()
    } else {
        simulated.join(", ")
    };
    Some(format!(
        "note: {} of {} Pod(s) are simulated from their workloads, not read from the input ({which}); --no-simulate leaves them out",
        simulated.len(),
        pods.len()
    ))
}
