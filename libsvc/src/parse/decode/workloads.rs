//! Workloads (Deployment, ReplicaSet, ReplicationController, StatefulSet,
//! DaemonSet): the fields of their Pod template that Services depend on.

use super::Decoder;
use crate::model::{ContainerPort, PodTemplate, Workload, WorkloadKind};
use crate::parse::node::Node;

impl Decoder {
    pub(super) fn workload(&mut self, doc: &Node, kind: WorkloadKind) -> Workload {
        let meta = self.meta(doc);
        let spec = self.object(Some(doc), "", "spec").map(|(n, _)| n);
        let s = "spec";
        let replicas = self.int(spec, s, "replicas");
        // apps/v1 selectors are LabelSelectors; a ReplicationController's is a plain map.
        let selector = if kind == WorkloadKind::ReplicationController {
            self.string_map(spec, s, "selector")
        } else {
            let sel = self.object(spec, s, "selector").map(|(n, _)| n);
            self.string_map(sel, "spec.selector", "matchLabels")
        };
        let service_name = if kind == WorkloadKind::StatefulSet {
            self.string(spec, s, "serviceName")
        } else {
            None
        };
        let template = self.object(spec, s, "template").map(|(n, _)| n);
        let t = "spec.template";
        let tmeta = self.object(template, t, "metadata").map(|(n, _)| n);
        let labels = self
            .string_map(tmeta, "spec.template.metadata", "labels")
            .unwrap_or_default();
        let tspec = self.object(template, t, "spec").map(|(n, _)| n);
        let ts = "spec.template.spec";
        let (container_ports, containers) = self.containers(tspec, ts);
        let template = PodTemplate {
            labels,
            node_name: self.string(tspec, ts, "nodeName"),
            node_selector: self
                .string_map(tspec, ts, "nodeSelector")
                .unwrap_or_default(),
            hostname: self.string(tspec, ts, "hostname"),
            subdomain: self.string(tspec, ts, "subdomain"),
            host_network: self.boolean(tspec, ts, "hostNetwork").unwrap_or(false),
            enable_service_links: self.boolean(tspec, ts, "enableServiceLinks"),
            container_ports,
            containers,
        };
        Workload {
            kind,
            // A ReplicationController without a selector selects its template's labels.
            selector: selector.unwrap_or_else(|| template.labels.clone()),
            meta,
            replicas,
            service_name,
            template,
            origin: self.take_origin(),
        }
    }

    /// The ports of a Pod spec's containers, then those of its restartable
    /// init containers (`restartPolicy: Always`, native sidecars), in the
    /// order FindPort searches them (pkg/api/v1/pod/util.go); and how many
    /// such containers there are (kubectl's READY total).
    pub(super) fn containers(
        &mut self,
        spec: Option<&Node>,
        path: &str,
    ) -> (Vec<ContainerPort>, usize) {
        let mut out = Vec::new();
        let mut count = 0;
        for key in ["containers", "initContainers"] {
            let lists = self.list(spec, path, key, |d, n, p| {
                let n = Some(d.item_object(n, p)?);
                if key == "initContainers"
                    && d.string(n, p, "restartPolicy").as_deref() != Some("Always")
                {
                    return None;
                }
                Some(d.list(n, p, "ports", |d, n, p| {
                    let n = Some(d.item_object(n, p)?);
                    Some(ContainerPort {
                        name: d.string(n, p, "name"),
                        container_port: d.int(n, p, "containerPort").unwrap_or(0),
                        protocol: d.string(n, p, "protocol"),
                    })
                }))
            });
            count += lists.len();
            out.extend(lists.into_iter().flatten());
        }
        (out, count)
    }
}
