//! Which cluster, and as whom: the kubeconfig as kubectl finds it
//! (`--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`; the current
//! context unless `--context`), or the Pod's in-cluster config.
//!
//! The rules follow client-go's `clientcmd` loading rules
//! (`staging/src/k8s.io/client-go/tools/clientcmd/loader.go`,
//! `ClientConfigLoadingRules.Load`): an explicit file must exist; files of
//! `$KUBECONFIG` that do not exist are skipped; the first file to set a
//! value wins. Its error words are client-go's.

use super::ClusterError;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the kubeconfig comes from.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// `--kubeconfig FILE`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context NAME`.
    pub context: Option<String>,
    /// The Pod's service account (the agent's default in a cluster).
    pub in_cluster: bool,
    /// `--request-timeout`: how long one request may take (none: no limit).
    pub request_timeout: Option<Duration>,
}

/// `--request-timeout` as clientcmd's `ParseTimeout` reads it
/// (k8s.io/client-go/tools/clientcmd/client_config.go): a whole number is
/// seconds, else a Go duration (`1s`, `2m`, `1h30m`, `500ms`); zero means
/// no timeout.
pub fn parse_timeout(text: &str) -> Result<Option<Duration>, String> {
    let invalid = || {
        "Invalid timeout value. Timeout must be a single integer in seconds, or an integer followed by a corresponding time unit (e.g. 1s | 2m | 3h)".to_string()
    };
    let d = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => go_duration(text).ok_or_else(invalid)?,
    };
    Ok((!d.is_zero()).then_some(d))
}

/// Go's `time.ParseDuration` for non-negative values: one or more decimal
/// numbers, each with a unit of ns, us (µs), ms, s, m or h.
fn go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        if number.is_empty() || number == "." {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * seconds;
        rest = next;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// The kubeconfig files to read, in kubectl's order of precedence.
/// `kubeconfig_env` and `home` are given (not read here) so that the rules
/// can be tested.
pub fn files(
    explicit: Option<&Path>,
    kubeconfig_env: Option<&std::ffi::OsStr>,
    home: Option<&Path>,
) -> Result<Vec<PathBuf>, ClusterError> {
    if let Some(p) = explicit {
        // ClientConfigLoadingRules.Load: an explicit path that is missing is an error.
        if !p.exists() {
            return Err(ClusterError::Config(format!(
                "stat {}: no such file or directory",
                p.display()
            )));
        }
        return Ok(vec![p.to_path_buf()]);
    }
    if let Some(v) = kubeconfig_env.filter(|v| !v.is_empty()) {
        // Missing files of $KUBECONFIG are skipped, as client-go does.
        return Ok(std::env::split_paths(v)
            .filter(|p| !p.as_os_str().is_empty() && p.exists())
            .collect());
    }
    Ok(home
        .map(|h| h.join(".kube").join("config"))
        .filter(|p| p.exists())
        .into_iter()
        .collect())
}

/// The client configuration for `source`.
pub async fn load(source: &Source) -> Result<kube::Config, ClusterError> {
    if source.in_cluster && source.kubeconfig.is_none() {
        return kube::Config::incluster().map_err(|e| {
            ClusterError::Config(format!(
                "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and \
                 KUBERNETES_SERVICE_PORT must be defined ({e}); outside a cluster give --kubeconfig FILE"
            ))
        });
    }
    let env = std::env::var_os("KUBECONFIG");
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let paths = files(
        source.kubeconfig.as_deref(),
        env.as_deref(),
        home.as_deref(),
    )?;
    if paths.is_empty() {
        // clientcmd.ErrEmptyConfig, as kubectl's client code reports it.
        return Err(ClusterError::Config(
            "invalid configuration: no configuration has been provided, try setting \
             KUBERNETES_MASTER environment variable (svcgen: give --kubeconfig FILE, set \
             KUBECONFIG, or create ~/.kube/config)"
                .into(),
        ));
    }
    let mut merged = Kubeconfig::default();
    for p in &paths {
        let one = Kubeconfig::read_from(p).map_err(|e| {
            ClusterError::Config(format!(
                "error loading config file \"{}\": {e}",
                p.display()
            ))
        })?;
        merged = merged
            .merge(one)
            .map_err(|e| ClusterError::Config(format!("cannot merge kubeconfig files: {e}")))?;
    }
    let context = match (&source.context, &merged.current_context) {
        (Some(c), _) => c.clone(),
        (None, Some(c)) if !c.is_empty() => c.clone(),
        // clientcmd's validation of an empty current context.
        _ => {
            return Err(ClusterError::Config(
                "invalid configuration: no current context is set; pick one with --context NAME"
                    .into(),
            ));
        }
    };
    if !merged.contexts.iter().any(|c| c.name == context) {
        // clientcmd.validateClusterInfo / ErrNoContext words.
        return Err(ClusterError::Config(format!(
            "context was not found for specified context: {context}"
        )));
    }
    let options = KubeConfigOptions {
        context: Some(context),
        cluster: None,
        user: None,
    };
    kube::Config::from_custom_kubeconfig(merged, &options)
        .await
        .map_err(|e| ClusterError::Config(format!("invalid configuration: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clientcmd's ParseTimeout: seconds, Go durations, zero, and its error.
    #[test]
    fn request_timeouts() {
        let ok = |t: &str| parse_timeout(t).unwrap();
        assert_eq!(ok("0"), None);
        assert_eq!(ok("0s"), None);
        assert_eq!(ok("5"), Some(Duration::from_secs(5)));
        assert_eq!(ok("1s"), Some(Duration::from_secs(1)));
        assert_eq!(ok("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(ok("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(ok("1.5s"), Some(Duration::from_millis(1500)));
        for bad in ["", "s", "1x", "-1", "1s2", "abc"] {
            assert!(
                parse_timeout(bad)
                    .unwrap_err()
                    .starts_with("Invalid timeout value."),
                "{bad}"
            );
        }
    }

    /// clientcmd `ClientConfigLoadingRules.Load`: the explicit path wins and
    /// must exist; `$KUBECONFIG` lists files, missing ones skipped; else
    /// `~/.kube/config` when it exists.
    #[test]
    fn kubeconfig_files_in_kubectls_precedence() {
        let dir = std::env::temp_dir().join(format!("svcgen-kcfg-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".kube")).unwrap();
        let a = dir.join("a");
        let home_cfg = dir.join(".kube/config");
        std::fs::write(&a, "").unwrap();
        std::fs::write(&home_cfg, "").unwrap();
        let missing = dir.join("missing");
        let env = std::env::join_paths([&missing, &a]).unwrap();

        assert_eq!(
            files(Some(&a), Some(&env), Some(&dir)).unwrap(),
            vec![a.clone()]
        );
        let err = files(Some(&missing), None, None).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("stat {}: no such file or directory", missing.display())
        );
        assert_eq!(
            files(None, Some(&env), Some(&dir)).unwrap(),
            vec![a.clone()]
        );
        assert_eq!(
            files(None, Some(std::ffi::OsStr::new("")), Some(&dir)).unwrap(),
            vec![home_cfg.clone()]
        );
        assert!(files(None, None, Some(&missing)).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
