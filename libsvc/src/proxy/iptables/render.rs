//! The ruleset as `iptables-restore` text, written the way kube-proxy writes
//! it (`Display`).

use super::model::{AddrSide, BuiltinJump, Chain, Comment, Match, Rule, Ruleset, Target};
use std::fmt::{self, Display, Formatter};

/// The longest comment the kernel's comment match takes (`XT_MAX_COMMENT_LEN` − 1).
const MAX_COMMENT: usize = 255;

/// A token iptables-restore reads as one word without quotes.
fn plain_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"./:_-[]".contains(&b))
}

impl Display for Comment {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        // Names that passed validation are plain tokens, so this is
        // kube-proxy's text. Anything else cannot end the word or the line:
        // control characters become `?`, `"` and `\` are escaped the way
        // iptables-restore unescapes them inside quotes, and the text is
        // cut to the kernel's limit.
        let t = self.text.as_str();
        if t.len() <= MAX_COMMENT && !t.chars().any(char::is_control) {
            // The common case, written without a copy.
            if !self.quoted && plain_token(t) {
                return f.write_str(t);
            }
            if !t.contains(['"', '\\']) {
                f.write_str("\"")?;
                f.write_str(t)?;
                return f.write_str("\"");
            }
        }
        let mut text = String::new();
        for c in self.text.chars() {
            if text.len() + c.len_utf8() > MAX_COMMENT {
                break;
            }
            text.push(if c.is_control() { '?' } else { c });
        }
        if !self.quoted && plain_token(&text) {
            return f.write_str(&text);
        }
        f.write_str("\"")?;
        for c in text.chars() {
            if c == '"' || c == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("\"")
    }
}

/// `-m statistic --probability` as kube-proxy formats it (`%0.10f` of 1/n).
pub fn probability_text(n: usize) -> String {
    format!("{:.10}", Match::probability(n))
}

fn not(negated: bool) -> &'static str {
    if negated { "! " } else { "" }
}

impl Display for Match {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Match::Comment(c) => write!(f, "-m comment --comment {c}"),
            Match::Protocol(p) => write!(f, "-m {0} -p {0}", p.lower()),
            Match::Source { negated, addr } => write!(f, "{}-s {addr}", not(*negated)),
            Match::InInterface { negated, name } => write!(f, "{}-i {name}", not(*negated)),
            Match::Destination { negated, addr } => write!(f, "{}-d {addr}", not(*negated)),
            Match::DestPort(p) => write!(f, "--dport {p}"),
            Match::AddrTypeLocal(AddrSide::Src) => f.write_str("-m addrtype --src-type LOCAL"),
            Match::AddrTypeLocal(AddrSide::Dst) => f.write_str("-m addrtype --dst-type LOCAL"),
            Match::Nfacct(name) => write!(f, "-m nfacct --nfacct-name {name}"),
            Match::Probability(n) => write!(
                f,
                "-m statistic --mode random --probability {}",
                probability_text(*n)
            ),
            Match::RecentSet(name) => write!(f, "-m recent --name {name} --set"),
            Match::RecentCheck { name, seconds } => {
                write!(
                    f,
                    "-m recent --name {name} --rcheck --seconds {seconds} --reap"
                )
            }
            Match::Mark { negated, mark } => {
                write!(f, "-m mark {}--mark {mark:#x}/{mark:#x}", not(*negated))
            }
            Match::CtState { negated, states } => {
                write!(f, "-m conntrack {}--ctstate {states}", not(*negated))
            }
        }
    }
}

impl Display for Target {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Target::Jump(c) => write!(f, "-j {c}"),
            Target::Accept => f.write_str("-j ACCEPT"),
            Target::Drop => f.write_str("-j DROP"),
            Target::Reject => f.write_str("-j REJECT"),
            Target::Return => f.write_str("-j RETURN"),
            Target::MarkOr(m) => write!(f, "-j MARK --or-mark {m:#x}"),
            Target::MarkXor(m) => write!(f, "-j MARK --xor-mark {m:#x}"),
            Target::Masquerade { random_fully } => {
                f.write_str("-j MASQUERADE")?;
                if *random_fully {
                    f.write_str(" --random-fully")?;
                }
                Ok(())
            }
            Target::Dnat(to) => write!(f, "-j DNAT --to-destination {to}"),
        }
    }
}

/// The rule's options (everything after `-A CHAIN`).
impl Display for Rule {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for m in &self.matches {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{m}")?;
        }
        if let Some(t) = &self.target {
            if !first {
                f.write_str(" ")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl Chain {
    /// The chain's `-A` lines.
    pub fn rule_lines(&self) -> impl Iterator<Item = String> + '_ {
        self.rules.iter().map(move |r| rule_line(&self.name, r))
    }
}

/// `-A CHAIN options` (no trailing space for an option-less rule).
pub fn rule_line(chain: &str, rule: &Rule) -> String {
    let mut out = String::new();
    let _ = write_rule_line(&mut out, chain, rule);
    out
}

/// Writes `-A CHAIN options` (no newline) straight into `out`.
pub fn write_rule_line(out: &mut impl fmt::Write, chain: &str, rule: &Rule) -> fmt::Result {
    write!(out, "-A {chain}")?;
    if rule.matches.is_empty() && rule.target.is_none() {
        return Ok(());
    }
    write!(out, " {rule}")
}

impl Display for BuiltinJump {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "-I {} {}", self.chain, self.rule)
    }
}

/// The payload kube-proxy restores; with `with_jumps`, also the jumps from
/// the built-in chains, so the text applies alone with `--noflush`.
pub fn restore_text(rs: &Ruleset, with_jumps: bool) -> String {
    let mut out = String::new();
    let _ = write_restore(&mut out, rs, with_jumps);
    out
}

/// Writes the payload of [`restore_text`] straight into `out`.
pub fn write_restore(out: &mut impl fmt::Write, rs: &Ruleset, with_jumps: bool) -> fmt::Result {
    for t in &rs.tables {
        writeln!(out, "*{}", t.name.as_str())?;
        for c in &t.chains {
            writeln!(out, ":{} - [0:0]", c.name)?;
        }
        for c in &t.chains {
            for r in &c.rules {
                write_rule_line(out, &c.name, r)?;
                out.write_char('\n')?;
            }
        }
        if with_jumps {
            for j in rs.jumps.iter().filter(|j| j.table == t.name) {
                writeln!(out, "{j}")?;
            }
        }
        out.write_str("COMMIT\n")?;
    }
    Ok(())
}

impl Display for Ruleset {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_restore(f, self, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values of kube-proxy's TestComputeProbability.
    #[test]
    fn probabilities_print_as_kube_proxy_prints_them() {
        for (n, text) in [
            (1, "1.0000000000"),
            (2, "0.5000000000"),
            (10, "0.1000000000"),
            (100000, "0.0000100000"),
            (100001, "0.0000099999"),
        ] {
            assert_eq!(probability_text(n), text);
        }
    }

    #[test]
    fn comments_are_quoted_only_when_needed() {
        let c = |text: &str, quoted| {
            Comment {
                text: text.into(),
                quoted,
            }
            .to_string()
        };
        assert_eq!(c("ns1/svc1:p80", false), "ns1/svc1:p80");
        assert_eq!(
            c("ns1/svc1:p80 cluster IP", true),
            "\"ns1/svc1:p80 cluster IP\""
        );
        assert_eq!(c("a b", false), "\"a b\"");
        assert_eq!(c("x\"\n-A", false), "\"x\\\"?-A\"");
        assert_eq!(c(&"é".repeat(200), false).len(), 2 + 254);
    }
}
