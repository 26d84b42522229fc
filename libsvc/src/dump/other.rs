//! `ipset save` and `ipvsadm-save -n`.

use super::model::*;
use super::{Diags, Parsed};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// One ipset element part of dimension `dim` (`ip`, `net`, `port`, `mark`,
/// `iface`): addresses as [`Value::Addr`], ports as written
/// (`tcp:443`, or a bare number for `bitmap:port`) in [`Value::Name`].
fn ipset_value(dim: &str, s: &str) -> Option<Value> {
    Some(match dim {
        "ip" | "net" => {
            if let Some((a, b)) = s.split_once('-') {
                Value::Addr(AddrItem::Range(a.parse().ok()?, b.parse().ok()?))
            } else if let Ok(n) = s.parse::<IpNet>() {
                Value::Addr(AddrItem::Net(n))
            } else {
                Value::Addr(AddrItem::Net(IpNet::from(s.parse::<IpAddr>().ok()?)))
            }
        }
        "port" => Value::Name(s.to_ascii_lowercase()),
        _ => Value::Name(s.to_string()),
    })
}

/// Reads `ipset save` (ipset: `lib/session.c` save format: `create NAME
/// TYPE opts…`, `add NAME ELEM [opts…]`).
pub fn parse_ipset(file: &str, text: &str) -> Parsed {
    let mut d = Diags::new(file);
    let mut sets: Vec<Set> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let ln = n as u32 + 1;
        let mut w = line.split_whitespace();
        match (w.next(), w.next(), w.next()) {
            (None, ..) => {}
            (Some(c), ..) if c.starts_with('#') => {}
            (Some("create"), Some(name), Some(kind)) => {
                let dims = kind
                    .split_once(':')
                    .map(|(_, d)| d.split(',').map(String::from).collect())
                    .unwrap_or_default();
                sets.push(Set {
                    name: name.into(),
                    kind: kind.into(),
                    elements: Vec::new(),
                    dims,
                    timeout: None,
                });
            }
            (Some("add"), Some(name), Some(elem)) => {
                let Some(set) = sets.iter_mut().find(|s| s.name == name) else {
                    d.error(ln, 5, format!("ipset {name} was not created"));
                    continue;
                };
                let parts: Vec<&str> = split_elem(elem, set.dims.len());
                let key: Option<Vec<Value>> = if parts.len() == set.dims.len() {
                    set.dims
                        .iter()
                        .zip(&parts)
                        .map(|(dim, p)| ipset_value(dim, p))
                        .collect()
                } else {
                    None
                };
                match key {
                    Some(key) => set.elements.push(Element { key, value: None }),
                    None => d.error(
                        ln,
                        line.find(elem).unwrap_or(0) as u32 + 1,
                        format!("element {elem:?} does not fit {}", set.kind),
                    ),
                }
            }
            _ => d.error(ln, 1, "expected `create NAME TYPE …` or `add NAME ELEMENT`"),
        }
    }
    Parsed {
        ipsets: sets,
        diagnostics: d.out,
        ..Default::default()
    }
}

/// Splits `a,tcp:80,b` into `dims` parts (`,` separates dimensions).
fn split_elem(elem: &str, dims: usize) -> Vec<&str> {
    let parts: Vec<&str> = elem.split(',').collect();
    if parts.len() == dims {
        parts
    } else {
        vec![elem]
    }
}

fn sockaddr(s: &str) -> Option<SocketAddr> {
    s.parse().ok()
}

/// Reads `ipvsadm-save -n` (ipvsadm: `ipvsadm.c` `print_service_entry` in
/// save format: `-A -t VIP:PORT -s SCHED [-p T]`, `-a -t VIP:PORT -r RIP:PORT -m -w W`).
pub fn parse_ipvsadm(file: &str, text: &str) -> Parsed {
    let mut d = Diags::new(file);
    let mut out: Vec<VirtualServer> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let ln = n as u32 + 1;
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.is_empty() || w[0].starts_with('#') {
            continue;
        }
        let get = |k: &[&str]| {
            w.iter()
                .position(|x| k.contains(x))
                .and_then(|p| w.get(p + 1))
                .copied()
        };
        let (proto, addr) = if let Some(a) = get(&["-t", "--tcp-service"]) {
            ("tcp", a)
        } else if let Some(a) = get(&["-u", "--udp-service"]) {
            ("udp", a)
        } else if let Some(a) = get(&["--sctp-service"]) {
            ("sctp", a)
        } else {
            d.error(
                ln,
                1,
                "expected -t, -u or --sctp-service ADDRESS:PORT (fwmark services are not read)",
            );
            continue;
        };
        let col = line.find(addr).unwrap_or(0) as u32 + 1;
        let Some(addr) = sockaddr(addr) else {
            d.error(ln, col, format!("bad address {addr:?}"));
            continue;
        };
        match w[0] {
            "-A" | "--add-service" => out.push(VirtualServer {
                protocol: proto.into(),
                addr,
                scheduler: get(&["-s", "--scheduler"]).unwrap_or("wlc").into(),
                persistent: get(&["-p", "--persistent"]).and_then(|p| p.parse().ok()),
                reals: Vec::new(),
                pos: Pos {
                    line: ln,
                    column: 1,
                },
            }),
            "-a" | "--add-server" => {
                let r = get(&["-r", "--real-server"]);
                let Some(real) = r.and_then(sockaddr) else {
                    // at the bad address, or at the line when there is none
                    let col = r.and_then(|r| line.rfind(r)).map_or(1, |c| c as u32 + 1);
                    d.error(ln, col, "expected -r ADDRESS:PORT");
                    continue;
                };
                let weight = get(&["-w", "--weight"])
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(1);
                match out
                    .iter_mut()
                    .find(|v| v.addr == addr && v.protocol == proto)
                {
                    Some(vs) => vs.reals.push((real, weight)),
                    None => d.error(ln, col, "real server for a virtual server not yet added"),
                }
            }
            other => d.error(
                ln,
                1,
                format!("unknown command {other:?}: expected -A or -a"),
            ),
        }
    }
    Parsed {
        ipvs: out,
        diagnostics: d.out,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ipset_save() {
        let p = parse_ipset(
            "s",
            "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\nadd KUBE-CLUSTER-IP 10.96.0.1,tcp:443\ncreate KUBE-NODE-PORT-TCP bitmap:port range 0-65535\nadd KUBE-NODE-PORT-TCP 30080\nadd NOPE 1\n",
        );
        assert_eq!(p.ipsets.len(), 2);
        assert_eq!(
            p.ipsets[0].elements[0].key[1],
            Value::Name("tcp:443".into())
        );
        assert_eq!(
            p.ipsets[1].elements[0].key,
            vec![Value::Name("30080".into())]
        );
        assert_eq!(p.diagnostics.len(), 1);
    }

    #[test]
    fn reads_ipvsadm_save() {
        let p = parse_ipvsadm(
            "v",
            "-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 192.168.0.10:6443 -m -w 1\n-A -u [fd00::a]:53 -s rr -p 10800\n",
        );
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(
            p.ipvs[0].reals,
            vec![("192.168.0.10:6443".parse().unwrap(), 1)]
        );
        assert_eq!(p.ipvs[1].persistent, Some(10800));
    }
}
