//! The fields of the kinds svcgen reads, as the Kubernetes v1.37 API defines
//! them, to warn about the ones that do not exist — as kube-apiserver's
//! strict field validation does (KEP 2885; the words come from
//! `sigs.k8s.io/json`'s strict decoding, `decodeState.object` saving
//! `unknown field "spec.ports[0].targetport"` for a key no struct field
//! matches, case-sensitively) — and the kinds themselves, to suggest one for
//! a misspelt `kind`.
//!
//! Field names are taken from the API types (`k8s.io/api` core/v1,
//! discovery/v1, networking/v1, apps/v1 `types.go`; `k8s.io/apimachinery`
//! meta/v1 `ObjectMeta`, `OwnerReference`, `ManagedFieldsEntry`,
//! `Condition`, `LabelSelector`; `k8s.io/kube-proxy` config/v1alpha1). A
//! part svcgen does not read is [`Schema::Any`]: never a false warning there.

use super::node::{Node, Value};
use crate::diag::{Diagnostic, Location, Severity};
use std::sync::Arc;

/// What may be written at a place of an object.
pub(super) enum Schema {
    /// An object with these fields (and no others).
    Object(&'static [(&'static str, &'static Schema)]),
    /// A list of the same.
    List(&'static Schema),
    /// A value, a map with free keys, or a part svcgen does not check.
    Any,
}

use Schema::{Any, List, Object};

static ANY: Schema = Any;

// meta/v1

static META: Schema = Object(&[
    ("name", &ANY),
    ("generateName", &ANY),
    ("namespace", &ANY),
    ("selfLink", &ANY),
    ("uid", &ANY),
    ("resourceVersion", &ANY),
    ("generation", &ANY),
    ("creationTimestamp", &ANY),
    ("deletionTimestamp", &ANY),
    ("deletionGracePeriodSeconds", &ANY),
    ("labels", &ANY),
    ("annotations", &ANY),
    ("ownerReferences", &OWNER_REFERENCES),
    ("finalizers", &ANY),
    ("managedFields", &MANAGED_FIELDS),
]);
static OWNER_REFERENCES: Schema = List(&Object(&[
    ("apiVersion", &ANY),
    ("kind", &ANY),
    ("name", &ANY),
    ("uid", &ANY),
    ("controller", &ANY),
    ("blockOwnerDeletion", &ANY),
]));
static MANAGED_FIELDS: Schema = List(&Object(&[
    ("manager", &ANY),
    ("operation", &ANY),
    ("apiVersion", &ANY),
    ("time", &ANY),
    ("fieldsType", &ANY),
    ("fieldsV1", &ANY),
    ("subresource", &ANY),
]));
static CONDITIONS: Schema = List(&Object(&[
    ("type", &ANY),
    ("status", &ANY),
    ("observedGeneration", &ANY),
    ("lastTransitionTime", &ANY),
    ("reason", &ANY),
    ("message", &ANY),
]));
static LABEL_SELECTOR: Schema = Object(&[
    ("matchLabels", &ANY),
    (
        "matchExpressions",
        &List(&Object(&[
            ("key", &ANY),
            ("operator", &ANY),
            ("values", &ANY),
        ])),
    ),
]);

// core/v1 Service

static SERVICE: Schema = Object(&[
    ("apiVersion", &ANY),
    ("kind", &ANY),
    ("metadata", &META),
    ("spec", &SERVICE_SPEC),
    ("status", &SERVICE_STATUS),
]);
static SERVICE_SPEC: Schema = Object(&[
    ("ports", &SERVICE_PORTS),
    ("selector", &ANY),
    ("clusterIP", &ANY),
    ("clusterIPs", &ANY),
    ("type", &ANY),
    ("externalIPs", &ANY),
    ("sessionAffinity", &ANY),
    ("loadBalancerIP", &ANY),
    ("loadBalancerSourceRanges", &ANY),
    ("externalName", &ANY),
    ("externalTrafficPolicy", &ANY),
    ("healthCheckNodePort", &ANY),
    ("publishNotReadyAddresses", &ANY),
    (
        "sessionAffinityConfig",
        &Object(&[("clientIP", &Object(&[("timeoutSeconds", &ANY)]))]),
    ),
    ("ipFamilies", &ANY),
    ("ipFamilyPolicy", &ANY),
    ("allocateLoadBalancerNodePorts", &ANY),
    ("loadBalancerClass", &ANY),
    ("internalTrafficPolicy", &ANY),
    ("trafficDistribution", &ANY),
]);
static SERVICE_PORTS: Schema = List(&Object(&[
    ("name", &ANY),
    ("protocol", &ANY),
    ("appProtocol", &ANY),
    ("port", &ANY),
    ("targetPort", &ANY),
    ("nodePort", &ANY),
]));
static SERVICE_STATUS: Schema = Object(&[
    (
        "loadBalancer",
        &Object(&[(
            "ingress",
            &List(&Object(&[
                ("ip", &ANY),
                ("hostname", &ANY),
                ("ipMode", &ANY),
                (
                    "ports",
                    &List(&Object(&[
                        ("port", &ANY),
                        ("protocol", &ANY),
                        ("error", &ANY),
                    ])),
                ),
            ])),
        )]),
    ),
    ("conditions", &CONDITIONS),
]);

// core/v1 Endpoints, discovery/v1 EndpointSlice

static OBJECT_REFERENCE: Schema = Object(&[
    ("kind", &ANY),
    ("namespace", &ANY),
    ("name", &ANY),
    ("uid", &ANY),
    ("apiVersion", &ANY),
    ("resourceVersion", &ANY),
    ("fieldPath", &ANY),
]);
/// core/v1 and discovery/v1 EndpointPort have the same fields.
static ENDPOINT_PORTS: Schema = List(&Object(&[
    ("name", &ANY),
    ("port", &ANY),
    ("protocol", &ANY),
    ("appProtocol", &ANY),
]));
static ENDPOINT_ADDRESSES: Schema = List(&Object(&[
    ("ip", &ANY),
    ("hostname", &ANY),
    ("nodeName", &ANY),
    ("targetRef", &OBJECT_REFERENCE),
]));
static ENDPOINTS: Schema = Object(&[
    ("apiVersion", &ANY),
    ("kind", &ANY),
    ("metadata", &META),
    (
        "subsets",
        &List(&Object(&[
            ("addresses", &ENDPOINT_ADDRESSES),
            ("notReadyAddresses", &ENDPOINT_ADDRESSES),
            ("ports", &ENDPOINT_PORTS),
        ])),
    ),
]);
static NAMES: Schema = List(&Object(&[("name", &ANY)]));
static ENDPOINT_SLICE: Schema = Object(&[
    ("apiVersion", &ANY),
    ("kind", &ANY),
    ("metadata", &META),
    ("addressType", &ANY),
    (
        "endpoints",
        &List(&Object(&[
            ("addresses", &ANY),
            (
                "conditions",
                &Object(&[("ready", &ANY), ("serving", &ANY), ("terminating", &ANY)]),
            ),
            ("hostname", &ANY),
            ("targetRef", &OBJECT_REFERENCE),
            ("deprecatedTopology", &ANY),
            ("nodeName", &ANY),
            ("zone", &ANY),
            (
                "hints",
                &Object(&[("forZones", &NAMES), ("forNodes", &NAMES)]),
            ),
        ])),
    ),
    ("ports", &ENDPOINT_PORTS),
]);

// networking/v1 ServiceCIDR

static SERVICE_CIDR: Schema = Object(&[
    ("apiVersion", &ANY),
    ("kind", &ANY),
    ("metadata", &META),
    ("spec", &Object(&[("cidrs", &ANY)])),
    ("status", &Object(&[("conditions", &CONDITIONS)])),
]);

// core/v1 Pod: every field of PodSpec, Container and PodStatus; the parts
// below them svcgen does not read are not checked.

static POD: Schema = Object(&[
    ("apiVersion", &ANY),
    ("kind", &ANY),
    ("metadata", &META),
    ("spec", &POD_SPEC),
    ("status", &POD_STATUS),
]);
static POD_SPEC: Schema = Object(&[
    ("volumes", &ANY),
    ("initContainers", &CONTAINERS),
    ("containers", &CONTAINERS),
    ("ephemeralContainers", &EPHEMERAL_CONTAINERS),
    ("restartPolicy", &ANY),
    ("terminationGracePeriodSeconds", &ANY),
    ("activeDeadlineSeconds", &ANY),
    ("dnsPolicy", &ANY),
    ("nodeSelector", &ANY),
    ("serviceAccountName", &ANY),
    ("serviceAccount", &ANY),
    ("automountServiceAccountToken", &ANY),
    ("nodeName", &ANY),
    ("hostNetwork", &ANY),
    ("hostPID", &ANY),
    ("hostIPC", &ANY),
    ("shareProcessNamespace", &ANY),
    ("securityContext", &ANY),
    ("imagePullSecrets", &ANY),
    ("hostname", &ANY),
    ("subdomain", &ANY),
    ("affinity", &ANY),
    ("schedulerName", &ANY),
    ("tolerations", &ANY),
    ("hostAliases", &ANY),
    ("priorityClassName", &ANY),
    ("priority", &ANY),
    ("dnsConfig", &ANY),
    ("readinessGates", &ANY),
    ("runtimeClassName", &ANY),
    ("enableServiceLinks", &ANY),
    ("preemptionPolicy", &ANY),
    ("overhead", &ANY),
    ("topologySpreadConstraints", &ANY),
    ("setHostnameAsFQDN", &ANY),
    ("os", &ANY),
    ("hostUsers", &ANY),
    ("schedulingGates", &ANY),
    ("resourceClaims", &ANY),
    ("resources", &ANY),
    ("hostnameOverride", &ANY),
    ("schedulingGroup", &ANY),
    ("evictionResponders", &ANY),
]);
/// The fields of a Container (also of an EphemeralContainer, which adds
/// `targetContainerName`).
macro_rules! container_fields {
    ($($extra:expr),*) => {
        &[
            ("name", &ANY),
            ("image", &ANY),
            ("command", &ANY),
            ("args", &ANY),
            ("workingDir", &ANY),
            ("ports", &CONTAINER_PORTS),
            ("envFrom", &ANY),
            ("env", &ANY),
            ("resources", &ANY),
            ("resizePolicy", &ANY),
            ("restartPolicy", &ANY),
            ("restartPolicyRules", &ANY),
            ("volumeMounts", &ANY),
            ("volumeDevices", &ANY),
            ("livenessProbe", &ANY),
            ("readinessProbe", &ANY),
            ("startupProbe", &ANY),
            ("lifecycle", &ANY),
            ("terminationMessagePath", &ANY),
            ("terminationMessagePolicy", &ANY),
            ("imagePullPolicy", &ANY),
            ("securityContext", &ANY),
            ("stdin", &ANY),
            ("stdinOnce", &ANY),
            ("tty", &ANY),
            $($extra),*
        ]
    };
}
static CONTAINERS: Schema = List(&Object(container_fields!()));
static EPHEMERAL_CONTAINERS: Schema =
    List(&Object(container_fields!(("targetContainerName", &ANY))));
static CONTAINER_PORTS: Schema = List(&Object(&[
    ("name", &ANY),
    ("hostPort", &ANY),
    ("containerPort", &ANY),
    ("protocol", &ANY),
    ("hostIP", &ANY),
]));
static IPS: Schema = List(&Object(&[("ip", &ANY)]));
static POD_STATUS: Schema = Object(&[
    ("observedGeneration", &ANY),
    ("phase", &ANY),
    (
        "conditions",
        &List(&Object(&[
            ("type", &ANY),
            ("observedGeneration", &ANY),
            ("status", &ANY),
            ("lastProbeTime", &ANY),
            ("lastTransitionTime", &ANY),
            ("reason", &ANY),
            ("message", &ANY),
        ])),
    ),
    ("message", &ANY),
    ("reason", &ANY),
    ("nominatedNodeName", &ANY),
    ("hostIP", &ANY),
    ("hostIPs", &IPS),
    ("podIP", &ANY),
    ("podIPs", &IPS),
    ("startTime", &ANY),
    ("initContainerStatuses", &ANY),
    ("containerStatuses", &ANY),
    ("qosClass", &ANY),
    ("ephemeralContainerStatuses", &ANY),
    ("resize", &ANY),
    ("resourceClaimStatuses", &ANY),
    ("extendedResourceClaimStatus", &ANY),
    ("allocatedResources", &ANY),
    ("resources", &ANY),
    ("nodeAllocatableResourceClaimStatuses", &ANY),
    ("volumeHealth", &ANY),
]);

// core/v1 Node

static NODE: Schema = Object(&[
    ("apiVersion", &ANY),
    ("kind", &ANY),
    ("metadata", &META),
    (
        "spec",
        &Object(&[
            ("podCIDR", &ANY),
            ("podCIDRs", &ANY),
            ("providerID", &ANY),
            ("unschedulable", &ANY),
            ("taints", &ANY),
            ("configSource", &ANY),
            ("externalID", &ANY),
            ("podPreemptionPolicy", &ANY),
        ]),
    ),
    (
        "status",
        &Object(&[
            ("capacity", &ANY),
            ("allocatable", &ANY),
            ("phase", &ANY),
            ("conditions", &ANY),
            (
                "addresses",
                &List(&Object(&[("type", &ANY), ("address", &ANY)])),
            ),
            ("daemonEndpoints", &ANY),
            ("nodeInfo", &ANY),
            ("images", &ANY),
            ("volumesInUse", &ANY),
            ("volumesAttached", &ANY),
            ("config", &ANY),
            ("runtimeHandlers", &ANY),
            ("features", &ANY),
            ("declaredFeatures", &ANY),
        ]),
    ),
]);

// apps/v1 workloads and core/v1 ReplicationController: their specs in
// full, the Pod template as a Pod; status is not checked.

static POD_TEMPLATE: Schema = Object(&[("metadata", &META), ("spec", &POD_SPEC)]);
macro_rules! workload {
    ($($field:expr),* $(,)?) => {
        Object(&[
            ("apiVersion", &ANY),
            ("kind", &ANY),
            ("metadata", &META),
            ("spec", &Object(&[$($field),*])),
            ("status", &ANY),
        ])
    };
}
static DEPLOYMENT: Schema = workload!(
    ("replicas", &ANY),
    ("selector", &LABEL_SELECTOR),
    ("template", &POD_TEMPLATE),
    ("strategy", &ANY),
    ("minReadySeconds", &ANY),
    ("revisionHistoryLimit", &ANY),
    ("paused", &ANY),
    ("progressDeadlineSeconds", &ANY),
);
static REPLICA_SET: Schema = workload!(
    ("replicas", &ANY),
    ("minReadySeconds", &ANY),
    ("selector", &LABEL_SELECTOR),
    ("template", &POD_TEMPLATE),
);
static STATEFUL_SET: Schema = workload!(
    ("replicas", &ANY),
    ("selector", &LABEL_SELECTOR),
    ("template", &POD_TEMPLATE),
    ("volumeClaimTemplates", &ANY),
    ("serviceName", &ANY),
    ("podManagementPolicy", &ANY),
    ("updateStrategy", &ANY),
    ("revisionHistoryLimit", &ANY),
    ("minReadySeconds", &ANY),
    ("persistentVolumeClaimRetentionPolicy", &ANY),
    ("ordinals", &ANY),
);
static DAEMON_SET: Schema = workload!(
    ("selector", &LABEL_SELECTOR),
    ("template", &POD_TEMPLATE),
    ("updateStrategy", &ANY),
    ("minReadySeconds", &ANY),
    ("revisionHistoryLimit", &ANY),
);
static REPLICATION_CONTROLLER: Schema = workload!(
    ("replicas", &ANY),
    ("minReadySeconds", &ANY),
    ("selector", &ANY),
    ("template", &POD_TEMPLATE),
);

// kubeproxy.config.k8s.io/v1alpha1

static KUBE_PROXY_CONFIGURATION: Schema = Object(&[
    ("apiVersion", &ANY),
    ("kind", &ANY),
    ("featureGates", &ANY),
    ("clientConnection", &ANY),
    ("logging", &ANY),
    ("hostnameOverride", &ANY),
    ("bindAddress", &ANY),
    ("healthzBindAddress", &ANY),
    ("metricsBindAddress", &ANY),
    ("bindAddressHardFail", &ANY),
    ("enableProfiling", &ANY),
    ("showHiddenMetricsForVersion", &ANY),
    ("mode", &ANY),
    (
        "iptables",
        &Object(&[
            ("masqueradeBit", &ANY),
            ("masqueradeAll", &ANY),
            ("localhostNodePorts", &ANY),
            ("syncPeriod", &ANY),
            ("minSyncPeriod", &ANY),
        ]),
    ),
    (
        "ipvs",
        &Object(&[
            ("syncPeriod", &ANY),
            ("minSyncPeriod", &ANY),
            ("scheduler", &ANY),
            ("excludeCIDRs", &ANY),
            ("strictARP", &ANY),
            ("tcpTimeout", &ANY),
            ("tcpFinTimeout", &ANY),
            ("udpTimeout", &ANY),
        ]),
    ),
    (
        "nftables",
        &Object(&[
            ("masqueradeBit", &ANY),
            ("masqueradeAll", &ANY),
            ("syncPeriod", &ANY),
            ("minSyncPeriod", &ANY),
        ]),
    ),
    (
        "winkernel",
        &Object(&[
            ("networkName", &ANY),
            ("sourceVip", &ANY),
            ("enableDSR", &ANY),
            ("rootHnsEndpointName", &ANY),
            ("forwardHealthCheckVip", &ANY),
        ]),
    ),
    ("detectLocalMode", &ANY),
    (
        "detectLocal",
        &Object(&[("bridgeInterface", &ANY), ("interfaceNamePrefix", &ANY)]),
    ),
    ("clusterCIDR", &ANY),
    ("nodePortAddresses", &ANY),
    ("oomScoreAdj", &ANY),
    (
        "conntrack",
        &Object(&[
            ("maxPerCore", &ANY),
            ("min", &ANY),
            ("tcpEstablishedTimeout", &ANY),
            ("tcpCloseWaitTimeout", &ANY),
            ("tcpBeLiberal", &ANY),
            ("udpTimeout", &ANY),
            ("udpStreamTimeout", &ANY),
        ]),
    ),
    ("configSyncPeriod", &ANY),
    ("portRange", &ANY),
    ("windowsRunAsService", &ANY),
]);

/// The kinds svcgen reads, with their fields.
static KINDS: &[(&str, &Schema)] = &[
    ("Service", &SERVICE),
    ("Endpoints", &ENDPOINTS),
    ("EndpointSlice", &ENDPOINT_SLICE),
    ("ServiceCIDR", &SERVICE_CIDR),
    ("Pod", &POD),
    ("Node", &NODE),
    ("KubeProxyConfiguration", &KUBE_PROXY_CONFIGURATION),
    ("Deployment", &DEPLOYMENT),
    ("ReplicaSet", &REPLICA_SET),
    ("StatefulSet", &STATEFUL_SET),
    ("DaemonSet", &DAEMON_SET),
    ("ReplicationController", &REPLICATION_CONTROLLER),
];

/// Warns about each field of `doc` (an object of `kind`) that its kind does
/// not have, at the field's name: `unknown field "spec.ports[0].targetport"`.
pub(super) fn check(kind: &str, doc: &Node, file: &Arc<str>, out: &mut Vec<Diagnostic>) {
    if let Some((_, schema)) = KINDS.iter().find(|(k, _)| *k == kind) {
        walk(doc, schema, &mut String::new(), file, out);
    }
}

fn walk(
    node: &Node,
    schema: &Schema,
    path: &mut String,
    file: &Arc<str>,
    out: &mut Vec<Diagnostic>,
) {
    match (schema, &node.value) {
        (Object(fields), Value::Map(entries)) => {
            for (key, value) in entries {
                let Value::Str(name) = &key.value else {
                    continue;
                };
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
                match fields.iter().find(|(f, _)| f == name) {
                    Some((_, inner)) => walk(value, inner, path, file, out),
                    None => {
                        let hint = closest(name, fields.iter().map(|(f, _)| *f))
                            .map(|f| format!(" (did you mean {f:?}?)"))
                            .unwrap_or_default();
                        let mut d = Diagnostic::new(
                            Severity::Warning,
                            format!("unknown field {path:?}{hint}"),
                            Some(Location {
                                file: file.clone(),
                                line: key.pos.line,
                                column: key.pos.column,
                            }),
                        );
                        d.field = Some(path.clone());
                        out.push(d);
                    }
                }
                path.truncate(len);
            }
        }
        (List(item), Value::Seq(items)) => {
            for (i, it) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(it, item, path, file, out);
                path.truncate(len);
            }
        }
        // Anything else is the decoder's to judge (a type error) or free.
        _ => {}
    }
}

/// The kind svcgen reads that `kind` (one it does not) is probably a
/// misspelling of: same letters in another case, a plural, or one or two
/// letters off for the longer names. Short names (Pod, Node) only match
/// case and plural, so that `Role` is not taken for `Node`.
pub(super) fn meant_kind(kind: &str) -> Option<&'static str> {
    let lower = kind.to_ascii_lowercase();
    KINDS.iter().map(|(k, _)| *k).find(|k| {
        let k_lower = k.to_ascii_lowercase();
        lower == k_lower
            || lower == format!("{k_lower}s")
            || lower == format!("{k_lower}es")
            || (k.len() >= 7 && distance(&lower, &k_lower) <= 2)
    })
}

/// The field name `name` is probably a misspelling of.
fn closest<'a>(name: &str, fields: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for f in fields {
        let d = distance(&lower, &f.to_ascii_lowercase());
        let limit = if f.len() >= 6 { 2 } else { 1 };
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, f));
        }
    }
    best.map(|(_, f)| f)
}

/// Edit distance with adjacent transpositions (optimal string alignment);
/// more than 2 is reported as 3 without computing it.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return 3;
    }
    let mut prev2 = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_kinds_are_recognised_but_other_kinds_are_not() {
        for (typo, meant) in [
            ("Servcie", "Service"),
            ("service", "Service"),
            ("Services", "Service"),
            ("Endpointslice", "EndpointSlice"),
            ("EndpointSlices", "EndpointSlice"),
            ("Endpoint", "Endpoints"),
            ("pod", "Pod"),
            ("Nodes", "Node"),
            ("Deploymnet", "Deployment"),
            ("statefulset", "StatefulSet"),
        ] {
            assert_eq!(meant_kind(typo), Some(meant), "{typo}");
        }
        for other in [
            "Role",
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "ServiceMonitor",
            "CustomResourceDefinition",
            "Ingress",
            "NetworkPolicy",
            "PodMonitor",
            "ServiceEntry",
        ] {
            assert_eq!(meant_kind(other), None, "{other}");
        }
    }

    #[test]
    fn distance_counts_a_transposition_as_one() {
        assert_eq!(distance("servcie", "service"), 1);
        assert_eq!(distance("targetport", "targetport"), 0);
        assert_eq!(distance("abc", "abcdefgh"), 3);
    }
}
