//! Export files that appear whole or not at all.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A file written under a temporary name and renamed into place once complete, so a failed
/// export never leaves a truncated file where a pipeline expects a good one. Paths that are not
/// regular files (`/dev/null`, a named pipe, `/dev/stdout`) are written directly: renaming over
/// them would replace the device or pipe with a plain file.
pub(super) struct Output {
    path: Option<PathBuf>,
    tmp: Option<PathBuf>,
    pub(super) writer: Box<dyn Write>,
}

impl Output {
    pub(super) fn create(path: &Path) -> Result<Output> {
        if path.as_os_str() == "-" {
            return Ok(Output {
                path: None,
                tmp: None,
                writer: Box::new(BufWriter::new(std::io::stdout())),
            });
        }
        if std::fs::metadata(path).is_ok_and(|m| !m.file_type().is_file()) {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            return Ok(Output {
                path: None,
                tmp: None,
                writer: Box::new(BufWriter::with_capacity(1 << 16, file)),
            });
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".partial");
        let tmp = PathBuf::from(tmp);
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(Output {
            path: Some(path.to_owned()),
            tmp: Some(tmp),
            writer: Box::new(BufWriter::with_capacity(1 << 16, file)),
        })
    }

    pub(super) fn commit(mut self) -> Result<()> {
        self.writer.flush().context("writing the export")?;
        drop(std::mem::replace(
            &mut self.writer,
            Box::new(std::io::sink()),
        ));
        if let (Some(tmp), Some(path)) = (self.tmp.take(), &self.path) {
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some(tmp) = &self.tmp {
            let _ = std::fs::remove_file(tmp);
        }
    }
}
