//! Fetch every layer of a `Selection` concurrently: one GetParametersByPath
//! walk per path layer, DescribeParameters + GetParameters batches for the
//! tag overlay. Any failure fails the whole fetch (fail closed).

use std::time::Instant;

use crate::config::{LayerSpec, Selection, Source};
use crate::log;
use crate::ssm::{Param, Ssm};

/// The raw parameters of one layer, as fetched.
#[derive(Debug)]
pub struct Fetched {
    pub spec: LayerSpec,
    pub params: Vec<Param>,
}

/// `files`: also walk each layer's `files/` folder.
pub async fn fetch_layers(ssm: &Ssm, sel: &Selection, files: bool) -> anyhow::Result<Vec<Fetched>> {
    let started = Instant::now();
    let jobs = sel.layers.iter().map(|spec| async move {
        let params = match &spec.source {
            Source::Paths { .. } => {
                let walks = spec.walks(files);
                let pages = walks
                    .iter()
                    .map(|(path, recursive)| ssm.read_tree(path, *recursive, sel.strategy));
                futures_util::future::try_join_all(pages)
                    .await?
                    .into_iter()
                    .flatten()
                    .collect()
            }
            Source::Tagged { root, tags } => fetch_tagged(ssm, root, tags).await?,
        };
        log::info!("{}: {} parameters", spec.label, params.len());
        anyhow::Ok(Fetched {
            spec: LayerSpec::clone(spec),
            params,
        })
    });
    let fetched = futures_util::future::try_join_all(jobs).await?;
    log::info!(
        "fetched {} layers in {} ms; API calls: {}",
        fetched.len(),
        started.elapsed().as_millis(),
        ssm.stats.summary()
    );
    Ok(fetched)
}

/// Parameters under `root` whose tags match every `K=V`.
async fn fetch_tagged(
    ssm: &Ssm,
    root: &str,
    tags: &[(String, String)],
) -> anyhow::Result<Vec<Param>> {
    let filters = crate::ssm::path_filters(root, true, tags)?;
    let what = format!(
        "{root} tagged {}",
        tags.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut names = ssm.describe_names(&what, filters).await?;
    names.sort();
    names.dedup();
    let got = ssm.get_many(&names).await?;
    let mut params = Vec::with_capacity(got.len());
    for (name, slot) in names.iter().zip(got) {
        match slot {
            Some(p) => params.push(p),
            // Deleted between DescribeParameters and GetParameters: it is
            // no longer part of the store, so it is not part of the layer.
            None => log::warning!(
                "{} disappeared while reading the tag layer; skipped",
                crate::names::printable(name)
            ),
        }
    }
    Ok(params)
}
