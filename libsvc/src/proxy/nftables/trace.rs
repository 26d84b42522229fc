//! A new connection walked through the typed nftables ruleset, the way
//! kube-proxy's nftables test tracer walks it: the pre-DNAT filter chain of
//! prerouting (LoadBalancer source ranges), then NAT prerouting (service
//! dispatch, DNAT). Then, as the kernel routes the packet after DNAT, the
//! input filter chain when its destination is a local address (a node
//! address, loopback) or the forward filter chain when it is not
//! (no-endpoint rejects, ClusterIP checks); finally NAT postrouting, which
//! shows the masquerade. `ct state new` always matches; a `numgen` choice
//! is followed into every branch, each with its share of the probability.

use super::model::*;
use super::render::{key_text, rule_text, verdict_text};
use crate::table::Protocol;
use crate::trace::{EndpointShare, Packet, Step, TraceResult};
use std::net::{IpAddr, SocketAddr};

/// Traces `packet` through the table of its family in `rules`; `local_ips`
/// are the addresses `fib … type local` treats as the node's own.
pub fn trace(rules: &Ruleset, local_ips: &[IpAddr], packet: &Packet) -> TraceResult {
    let family = if packet.dst.is_ipv4() {
        Family::Ip
    } else {
        Family::Ip6
    };
    let mut result = TraceResult {
        outcome: String::new(),
        masquerade: false,
        endpoints: Vec::new(),
        path: Vec::new(),
        notes: Vec::new(),
    };
    if packet.src.is_ipv4() != packet.dst.is_ipv4() {
        result
            .notes
            .push("source and destination are of different IP families".into());
        return result;
    }
    let Some(table) = rules.tables.iter().find(|t| t.family == family) else {
        result.notes.push(format!(
            "no {} kube-proxy table is rendered for this family",
            family.keyword()
        ));
        return result;
    };
    let mut t = Tracer {
        table,
        local_ips,
        in_interface: packet.in_interface.as_deref(),
        src: packet.src,
        dst: packet.dst,
        port: packet.port,
        proto: packet.protocol,
        outputs: Vec::new(),
        dnat: Vec::new(),
        mark: false,
        affinity: false,
        result: &mut result,
        depth: 0,
    };
    let refused = t.run_walk();
    let outputs = std::mem::take(&mut t.outputs);
    // Kept in the tracer too: postrouting's `ct status dnat` reads it.
    let dnat = t.dnat.clone();
    let mark = t.mark;
    // Hairpin: the connection goes back to its own source.
    let hairpin = dnat.iter().map(|(sa, _)| *sa).find(|sa| {
        table.set("hairpin-connections").is_some_and(|s| {
            s.elements.iter().any(|e| {
                e.key
                    == [
                        KeyPart::Addr(packet.src),
                        KeyPart::Addr(sa.ip()),
                        KeyPart::Proto(packet.protocol),
                        KeyPart::Port(sa.port()),
                    ]
            })
        })
    });
    if !refused {
        // NAT postrouting shows the masquerade step (the mark, or the
        // hairpin endpoint when one of the chosen endpoints is the client).
        if let Some(sa) = hairpin {
            t.dst = sa.ip();
            t.port = sa.port();
        }
        t.run_chain("nat-postrouting", 1.0);
    }
    let affinity = t.affinity;
    result.outcome = outputs.join(", ");
    if hairpin.is_some() {
        result
            .notes
            .push("hairpin connection: masqueraded by the masquerading chain".into());
    }
    if affinity && !dnat.is_empty() {
        result.notes.push(
            "ClientIP affinity: a client seen within the timeout goes back to its previous endpoint"
                .into(),
        );
    }
    result.masquerade = mark || hairpin.is_some();
    for (sa, p) in dnat {
        let ep = sa.to_string();
        match result.endpoints.iter_mut().find(|e| e.endpoint == ep) {
            Some(e) => e.probability += p,
            None => result.endpoints.push(EndpointShare {
                endpoint: ep,
                probability: p,
            }),
        }
    }
    result
}

struct Tracer<'a> {
    table: &'a Table,
    local_ips: &'a [IpAddr],
    /// The input interface (`None`: none, never matches `iifname`).
    in_interface: Option<&'a str>,
    src: IpAddr,
    dst: IpAddr,
    port: u16,
    proto: Protocol,
    /// What the test tracer prints: endpoints, `DROP`, `REJECT`.
    outputs: Vec<String>,
    /// The DNAT targets with their probabilities.
    dnat: Vec<(SocketAddr, f64)>,
    mark: bool,
    /// An endpoint chain records the client for ClientIP affinity.
    affinity: bool,
    result: &'a mut TraceResult,
    /// Guards against chain loops in hand-made models.
    depth: u32,
}

impl Tracer<'_> {
    fn run_walk(&mut self) -> bool {
        if self.run_chain("filter-prerouting-pre-dnat", 1.0) {
            return true;
        }
        self.run_chain("nat-prerouting", 1.0);
        // The DNAT happens here: later chains see the first chosen endpoint.
        if let Some((sa, _)) = self.dnat.first() {
            self.dst = sa.ip();
            self.port = sa.port();
        }
        // The routing decision: delivered locally (input) or forwarded.
        let (hook, why) = if self.is_local(self.dst) {
            ("filter-input", "a local address: the input hook")
        } else {
            ("filter-forward", "not a local address: the forward hook")
        };
        self.result
            .notes
            .push(format!("routing: {} is {why}", self.dst));
        self.run_chain(hook, 1.0)
    }

    /// `fib daddr type local`: the node's addresses and all of loopback.
    fn is_local(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || self.local_ips.contains(&ip)
    }

    /// Runs a chain; true when a terminal verdict was reached.
    fn run_chain(&mut self, name: &str, weight: f64) -> bool {
        let table = self.table;
        let Some(chain) = table.chain(name) else {
            return false;
        };
        if self.depth > 64 {
            return true;
        }
        self.depth += 1;
        let mut out = false;
        for rule in &chain.rules {
            match self.run_rule(chain, rule, weight) {
                Flow::Continue => {}
                Flow::Return => break,
                Flow::Terminal => {
                    out = true;
                    break;
                }
            }
        }
        self.depth -= 1;
        out
    }

    fn step(&mut self, chain: &Chain, rule: &Rule) {
        self.result.path.push(Step {
            table: format!("{} {}", self.table.family.keyword(), self.table.name),
            chain: chain.name.clone(),
            rule: rule_text(self.table.family, rule),
        });
    }

    fn in_set(&self, set: &str, key: &[KeyPart]) -> bool {
        self.table
            .set(set)
            .is_some_and(|s| s.elements.iter().any(|e| e.key == key))
    }

    fn run_rule(&mut self, chain: &Chain, rule: &Rule, weight: f64) -> Flow {
        let table = self.table;
        let mut stepped = false;
        for e in &rule.exprs {
            let matched = match e {
                Expr::CtStateNew => true,
                Expr::CtStatusDnat => !self.dnat.is_empty(),
                Expr::DaddrInSet(s) => self.in_set(s, &[KeyPart::Addr(self.dst)]),
                Expr::SaddrInSet(s) => self.in_set(s, &[KeyPart::Addr(self.src)]),
                Expr::Daddr { negated, addr } => addr.contains(&self.dst) != *negated,
                Expr::Saddr { negated, addr } => addr.contains(&self.src) != *negated,
                // `iif NAME` names one interface as `iifname` does.
                Expr::Iifname { negated, name } | Expr::Iif { negated, name } => {
                    let iface = self.in_interface;
                    let hit = match name.strip_suffix('*') {
                        Some(prefix) => iface.is_some_and(|i| i.starts_with(prefix)),
                        None => iface == Some(name.as_str()),
                    };
                    hit != *negated
                }
                Expr::DaddrInCidrs(list) => list.iter().any(|a| a.contains(&self.dst)),
                Expr::SaddrNotIn(list) => !list.iter().any(|a| a.contains(&self.src)),
                Expr::FibSaddrLocal => self.is_local(self.src),
                Expr::FibDaddrLocal => self.is_local(self.dst),
                Expr::ConnectionInSet(s) => self.in_set(
                    s,
                    &[
                        KeyPart::Addr(self.src),
                        KeyPart::Addr(self.dst),
                        KeyPart::Proto(self.proto),
                        KeyPart::Port(self.port),
                    ],
                ),
                Expr::MarkSet(_) => self.mark,
                Expr::MarkUnset(_) => !self.mark,
                Expr::Dport(p, port) => *p == self.proto && *port == self.port,
                Expr::L4Proto(p) => *p == self.proto,
                // Statements: the rule matched up to here.
                Expr::SetMark(_) => {
                    self.mark = true;
                    true
                }
                Expr::UpdateSaddr(_) => {
                    self.affinity = true;
                    true
                }
                Expr::ClearMark(_) | Expr::Masquerade | Expr::NamedCounter(_) => true,
                Expr::Vmap { key, map } => {
                    let k: Vec<KeyPart> = match key {
                        Lookup::DaddrProtoPort => vec![
                            KeyPart::Addr(self.dst),
                            KeyPart::Proto(self.proto),
                            KeyPart::Port(self.port),
                        ],
                        Lookup::ProtoPort => {
                            vec![KeyPart::Proto(self.proto), KeyPart::Port(self.port)]
                        }
                    };
                    let Some(el) = table
                        .map(map)
                        .and_then(|m| m.elements.iter().find(|e| e.key == k))
                    else {
                        return Flow::Continue;
                    };
                    self.step(chain, rule);
                    let Some(v) = &el.value else {
                        return Flow::Continue;
                    };
                    self.result.notes.push(format!(
                        "@{map}: {} : {}",
                        key_text(&el.key),
                        verdict_text(v)
                    ));
                    return match v {
                        Verdict::Drop => self.terminal("DROP"),
                        Verdict::Goto(c) => self.goto(c, weight),
                    };
                }
                Expr::NumgenGoto(chains) => {
                    self.step(chain, rule);
                    let share = weight / chains.len().max(1) as f64;
                    for c in chains {
                        self.run_chain(c, share);
                    }
                    return Flow::Terminal;
                }
                Expr::DnatTo(sa) => {
                    self.step(chain, rule);
                    self.outputs.push(sa.to_string());
                    self.dnat.push((*sa, weight));
                    return Flow::Terminal;
                }
                Expr::DnatNumgen(targets) => {
                    self.step(chain, rule);
                    let share = weight / targets.len().max(1) as f64;
                    for sa in targets {
                        self.outputs.push(sa.to_string());
                        self.dnat.push((*sa, share));
                    }
                    return Flow::Terminal;
                }
                Expr::Jump(c) => {
                    self.step(chain, rule);
                    if self.run_chain(c, weight) {
                        return Flow::Terminal;
                    }
                    stepped = true;
                    true
                }
                Expr::Goto(c) => {
                    self.step(chain, rule);
                    return self.goto(c, weight);
                }
                Expr::Return => {
                    self.step(chain, rule);
                    return Flow::Return;
                }
                Expr::Drop => {
                    self.step(chain, rule);
                    return self.terminal("DROP");
                }
                Expr::Reject => {
                    self.step(chain, rule);
                    return self.terminal("REJECT");
                }
            };
            if !matched {
                return Flow::Continue;
            }
        }
        if !stepped {
            self.step(chain, rule);
        }
        Flow::Continue
    }

    fn goto(&mut self, chain: &str, weight: f64) -> Flow {
        if self.run_chain(chain, weight) {
            Flow::Terminal
        } else {
            Flow::Return
        }
    }

    fn terminal(&mut self, verdict: &str) -> Flow {
        self.outputs.push(verdict.into());
        Flow::Terminal
    }
}

/// What a rule did to the walk of its chain.
enum Flow {
    /// Go on with the next rule.
    Continue,
    /// Leave this chain (after a `goto` came back).
    Return,
    /// A terminal verdict.
    Terminal,
}
