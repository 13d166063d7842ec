//! The per-recording pages of a large report: sections stream into
//! `<stem>_files/page-NNNN.html`, a page of `page_size` recordings at a
//! time, each written atomically. A page is closed when the first section
//! of the next arrives (or at the end), so its "next" link is only written
//! when there is a next page.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use tempfile::NamedTempFile;

use crate::html;
use crate::{io_at, persist, ReportError};

/// The file name of page `number` (from 1).
pub(crate) fn page_file(number: usize) -> String {
    format!("page-{number:04}.html")
}

/// Writes the pages of one report, in order.
#[derive(Debug)]
pub(crate) struct PageWriter {
    files_dir: PathBuf,
    /// The report's file name, for the way back.
    index_href: String,
    title: String,
    title_link: Option<String>,
    open: Option<(usize, BufWriter<NamedTempFile>)>,
}

impl PageWriter {
    /// Pages of the report named `index_name` (a file name), written into `files_dir`.
    pub(crate) fn new(
        files_dir: PathBuf,
        index_name: &str,
        title: &str,
        title_link: Option<String>,
    ) -> Self {
        PageWriter {
            files_dir,
            index_href: format!("../{}", html::encode_path(index_name)),
            title: title.to_string(),
            title_link,
            open: None,
        }
    }

    /// Appends `section` to page `page`, which is the open page or the next one.
    pub(crate) fn push(&mut self, page: usize, section: &str) -> Result<(), ReportError> {
        if self.open.as_ref().is_some_and(|(n, _)| *n != page) {
            self.close(true)?;
        }
        if self.open.is_none() {
            let temp = NamedTempFile::new_in(&self.files_dir).map_err(io_at(&self.files_dir))?;
            let mut w = BufWriter::new(temp);
            let head = html::head(
                &format!("{}: page {page}", self.title),
                self.title_link.as_deref(),
            );
            let dest = self.files_dir.join(page_file(page));
            w.write_all(head.as_bytes())
                .and_then(|()| w.write_all(self.nav(page, false).as_bytes()))
                .map_err(io_at(&dest))?;
            self.open = Some((page, w));
        }
        let Some((page, w)) = &mut self.open else {
            unreachable!("a page was just opened")
        };
        let dest = self.files_dir.join(page_file(*page));
        w.write_all(section.as_bytes()).map_err(io_at(&dest))
    }

    /// Closes the last page and removes pages left by an earlier, longer
    /// report of the same name. Returns how many pages there are.
    pub(crate) fn finish(mut self) -> Result<usize, ReportError> {
        let pages = self.open.as_ref().map_or(0, |(n, _)| *n);
        self.close(false)?;
        let mut stale = pages + 1;
        while fs::remove_file(self.files_dir.join(page_file(stale))).is_ok() {
            stale += 1;
        }
        Ok(pages)
    }

    fn close(&mut self, has_next: bool) -> Result<(), ReportError> {
        let Some((page, mut w)) = self.open.take() else {
            return Ok(());
        };
        let dest = self.files_dir.join(page_file(page));
        w.write_all(self.nav(page, has_next).as_bytes())
            .and_then(|()| w.write_all(html::tail().as_bytes()))
            .map_err(io_at(&dest))?;
        let temp = w.into_inner().map_err(|e| io_at(&dest)(e.into_error()))?;
        persist(temp, &dest)
    }

    /// The links to the index and the neighbouring pages.
    fn nav(&self, page: usize, has_next: bool) -> String {
        let mut s = format!(
            "<nav class=\"pages\"><a href=\"{}\">index: summary and table</a>",
            self.index_href
        );
        if page > 1 {
            s.push_str(&format!(
                " · <a href=\"{}\">previous page</a>",
                page_file(page - 1)
            ));
        }
        s.push_str(&format!(" · page {page}"));
        if has_next {
            s.push_str(&format!(
                " · <a href=\"{}\">next page</a>",
                page_file(page + 1)
            ));
        }
        s.push_str("</nav>\n");
        s
    }
}
