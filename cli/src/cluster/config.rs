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

/// Where the kubeconfig comes from.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// `--kubeconfig FILE`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context NAME`.
    pub context: Option<String>,
    /// The Pod's service account (the agent's default in a cluster).
    pub in_cluster: bool,
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
