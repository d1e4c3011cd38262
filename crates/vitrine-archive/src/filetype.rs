//! What a file is, by its content: never by its name.
//!
//! Used by the scanner to decide which containers to open and by the egress
//! policy to keep documents on the endpoint. When in doubt a file is `Text`
//! (a document) or `Unknown`, never an executable: the egress policy lets
//! content leave only for executable kinds, so doubt fails closed.

use std::io::Cursor;

/// A file kind recognised from content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// ELF executable, shared object or core file.
    Elf,
    /// MZ / PE executable (Windows EXE, DLL, driver).
    Pe,
    /// Mach-O executable or universal binary.
    MachO,
    /// A script starting with `#!`.
    Script,
    /// Office Open XML (docx, xlsx, pptx): a zip with `[Content_Types].xml`.
    Ooxml,
    /// OpenDocument (odt, ods, odp): a zip whose `mimetype` says so.
    OpenDocument,
    /// OLE compound file: legacy Office (doc, xls, ppt), MSI, Outlook msg.
    OleCompound,
    /// PDF.
    Pdf,
    /// Rich Text Format.
    Rtf,
    /// An e-mail message or mbox.
    Mail,
    /// PNG, JPEG, GIF, BMP, TIFF, WebP or HEIF image.
    Image,
    /// Text (UTF-8 or UTF-16), including source code, HTML and XML.
    Text,
    /// Zip archive (not an Office or OpenDocument file).
    Zip,
    /// 7-Zip archive.
    SevenZ,
    /// POSIX or GNU tar archive.
    Tar,
    /// gzip stream.
    Gzip,
    /// bzip2 stream.
    Bzip2,
    /// xz stream.
    Xz,
    /// Anything else (binary data of no known kind).
    Unknown,
}

impl FileKind {
    /// Documents, images, mail and text: what a person writes or reads.
    pub fn is_document(self) -> bool {
        matches!(
            self,
            FileKind::Ooxml
                | FileKind::OpenDocument
                | FileKind::OleCompound
                | FileKind::Pdf
                | FileKind::Rtf
                | FileKind::Mail
                | FileKind::Image
                | FileKind::Text
        )
    }

    /// Program code: ELF, PE, Mach-O, or a script with a `#!` line.
    pub fn is_executable(self) -> bool {
        matches!(
            self,
            FileKind::Elf | FileKind::Pe | FileKind::MachO | FileKind::Script
        )
    }

    /// Archives and compressed streams that [`crate::walk`] opens. Office
    /// and OpenDocument files are zips too and are opened as well.
    pub fn is_container(self) -> bool {
        matches!(
            self,
            FileKind::Zip
                | FileKind::SevenZ
                | FileKind::Tar
                | FileKind::Gzip
                | FileKind::Bzip2
                | FileKind::Xz
                | FileKind::Ooxml
                | FileKind::OpenDocument
        )
    }

    /// The short name used in configuration files and reports.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Elf => "elf",
            FileKind::Pe => "pe",
            FileKind::MachO => "macho",
            FileKind::Script => "script",
            FileKind::Ooxml => "ooxml",
            FileKind::OpenDocument => "opendocument",
            FileKind::OleCompound => "ole",
            FileKind::Pdf => "pdf",
            FileKind::Rtf => "rtf",
            FileKind::Mail => "mail",
            FileKind::Image => "image",
            FileKind::Text => "text",
            FileKind::Zip => "zip",
            FileKind::SevenZ => "7z",
            FileKind::Tar => "tar",
            FileKind::Gzip => "gzip",
            FileKind::Bzip2 => "bzip2",
            FileKind::Xz => "xz",
            FileKind::Unknown => "unknown",
        }
    }

    /// Every kind, in declaration order.
    pub const ALL: [FileKind; 19] = [
        FileKind::Elf,
        FileKind::Pe,
        FileKind::MachO,
        FileKind::Script,
        FileKind::Ooxml,
        FileKind::OpenDocument,
        FileKind::OleCompound,
        FileKind::Pdf,
        FileKind::Rtf,
        FileKind::Mail,
        FileKind::Image,
        FileKind::Text,
        FileKind::Zip,
        FileKind::SevenZ,
        FileKind::Tar,
        FileKind::Gzip,
        FileKind::Bzip2,
        FileKind::Xz,
        FileKind::Unknown,
    ];

    /// The kind named `name` (as printed by [`FileKind::name`]).
    pub fn from_name(name: &str) -> Option<FileKind> {
        FileKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind of `data`, from its content alone.
pub fn sniff(data: &[u8]) -> FileKind {
    let starts = |m: &[u8]| data.starts_with(m);
    if starts(b"\x7fELF") {
        return FileKind::Elf;
    }
    if starts(b"MZ") {
        return FileKind::Pe;
    }
    if starts(b"\xfe\xed\xfa\xce")
        || starts(b"\xfe\xed\xfa\xcf")
        || starts(b"\xce\xfa\xed\xfe")
        || starts(b"\xcf\xfa\xed\xfe")
    {
        return FileKind::MachO;
    }
    // 0xcafebabe is both a universal binary and a Java class file; a
    // universal binary has few architectures where a class file has its
    // version (45 and up) in the same place.
    if starts(b"\xca\xfe\xba\xbe") && data.len() >= 8 {
        let n = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        if n > 0 && n < 30 {
            return FileKind::MachO;
        }
    }
    if starts(b"#!") {
        return FileKind::Script;
    }
    if starts(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        return FileKind::OleCompound;
    }
    // A spanned zip's first part starts with the data-descriptor marker;
    // it is a zip to people, though `walk` cannot open it alone.
    if starts(b"PK\x07\x08") {
        return zip_kind(data);
    }
    match container_magic(data) {
        Some(FileKind::Zip) => return zip_kind(data),
        Some(k) => return k,
        None => {}
    }
    if find(&data[..data.len().min(1024)], b"%PDF-").is_some() {
        return FileKind::Pdf;
    }
    if starts(b"{\\rtf") {
        return FileKind::Rtf;
    }
    if starts(b"\x89PNG\r\n\x1a\n")
        || starts(b"\xff\xd8\xff")
        || starts(b"GIF87a")
        || starts(b"GIF89a")
        || starts(b"II*\x00")
        || starts(b"MM\x00*")
        || (starts(b"BM") && data.len() >= 26 && data[6..10] == [0, 0, 0, 0])
        || (starts(b"RIFF") && data.len() >= 12 && &data[8..12] == b"WEBP")
        || (data.len() >= 12
            && &data[4..8] == b"ftyp"
            && matches!(&data[8..12], b"heic" | b"heix" | b"mif1" | b"avif"))
    {
        return FileKind::Image;
    }
    if is_text(data) {
        if is_mail(data) {
            return FileKind::Mail;
        }
        return FileKind::Text;
    }
    FileKind::Unknown
}

/// The container kinds [`crate::walk`] opens, by magic bytes alone: cheaper
/// than [`sniff`], which reads zip directories to tell Office files apart.
pub(crate) fn container_magic(data: &[u8]) -> Option<FileKind> {
    let starts = |m: &[u8]| data.starts_with(m);
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        Some(FileKind::Zip)
    } else if starts(b"7z\xbc\xaf\x27\x1c") {
        Some(FileKind::SevenZ)
    } else if starts(b"\x1f\x8b") {
        Some(FileKind::Gzip)
    } else if data.len() >= 4 && starts(b"BZh") && (b'1'..=b'9').contains(&data[3]) {
        Some(FileKind::Bzip2)
    } else if starts(b"\xfd7zXZ\x00") {
        Some(FileKind::Xz)
    } else if data.len() >= 262 && &data[257..262] == b"ustar" {
        Some(FileKind::Tar)
    } else {
        None
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn zip_kind(data: &[u8]) -> FileKind {
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(data)) else {
        // Unreadable directory: still a zip to the scanner, which falls back
        // to reading local headers.
        return FileKind::Zip;
    };
    if zip.index_for_name("[Content_Types].xml").is_some() {
        return FileKind::Ooxml;
    }
    if let Ok(mut f) = zip.by_name("mimetype") {
        let mut head = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::Read::take(&mut f, 100), &mut head);
        if head.starts_with(b"application/vnd.oasis.opendocument") {
            return FileKind::OpenDocument;
        }
    }
    FileKind::Zip
}

/// Mostly printable UTF-8, or UTF-16 with a byte-order mark, in the first
/// 8 KiB.
fn is_text(data: &[u8]) -> bool {
    if data.is_empty() {
        return false;
    }
    if data.starts_with(b"\xff\xfe") || data.starts_with(b"\xfe\xff") {
        return true;
    }
    let head = &data[..data.len().min(8192)];
    if head.contains(&0) {
        return false;
    }
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A character cut at the 8 KiB boundary is still text.
        Err(e) => e.error_len().is_none() && head.len() < data.len(),
    };
    if !valid {
        return false;
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c))
        .count();
    control * 100 <= head.len()
}

/// A header block of RFC 5322 fields (or an mbox `From ` line) first.
fn is_mail(data: &[u8]) -> bool {
    if data.starts_with(b"From ") {
        return true;
    }
    const FIELDS: &[&str] = &[
        "from:",
        "to:",
        "subject:",
        "date:",
        "received:",
        "return-path:",
        "message-id:",
        "mime-version:",
        "delivered-to:",
        "reply-to:",
        "cc:",
    ];
    let head = String::from_utf8_lossy(&data[..data.len().min(4096)]).to_lowercase();
    let mut known = 0;
    for line in head.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue; // folded header
        }
        let Some((name, _)) = line.split_once(':') else {
            return false;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return false;
        }
        if FIELDS.iter().any(|f| line.starts_with(f)) {
            known += 1;
        }
    }
    known >= 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(names: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (n, d) in names {
            w.start_file(*n, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(d).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn executables_by_magic() {
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01"), FileKind::Elf);
        assert_eq!(sniff(b"MZ\x90\x00"), FileKind::Pe);
        assert_eq!(sniff(b"\xcf\xfa\xed\xfe\x07"), FileKind::MachO);
        assert_eq!(sniff(b"\xca\xfe\xba\xbe\x00\x00\x00\x02"), FileKind::MachO);
        // A Java class file is not a Mach-O.
        assert_eq!(
            sniff(b"\xca\xfe\xba\xbe\x00\x00\x00\x34"),
            FileKind::Unknown
        );
        assert_eq!(sniff(b"#!/bin/sh\necho hi\n"), FileKind::Script);
        for k in [
            FileKind::Elf,
            FileKind::Pe,
            FileKind::MachO,
            FileKind::Script,
        ] {
            assert!(k.is_executable() && !k.is_document());
        }
    }

    #[test]
    fn documents_by_content_not_name() {
        let docx = zip_with(&[
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", b"<w:document>TOP SECRET</w:document>"),
        ]);
        assert_eq!(sniff(&docx), FileKind::Ooxml);
        let odt = zip_with(&[("mimetype", b"application/vnd.oasis.opendocument.text")]);
        assert_eq!(sniff(&odt), FileKind::OpenDocument);
        assert_eq!(sniff(&zip_with(&[("a.c", b"int main;")])), FileKind::Zip);
        assert_eq!(
            sniff(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest"),
            FileKind::OleCompound
        );
        assert_eq!(sniff(b"%PDF-1.7\n"), FileKind::Pdf);
        assert_eq!(sniff(b"{\\rtf1\\ansi secret}"), FileKind::Rtf);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), FileKind::Image);
        assert_eq!(sniff(b"\xff\xd8\xff\xe0"), FileKind::Image);
        assert_eq!(
            sniff(b"From: a@example.org\nTo: b@example.org\nSubject: hi\n\nbody"),
            FileKind::Mail
        );
        assert_eq!(sniff(b"int main(void) { return 0; }\n"), FileKind::Text);
        assert_eq!(sniff(b"\xff\xfeT\x00O\x00P\x00"), FileKind::Text);
        for k in [
            FileKind::Ooxml,
            FileKind::OpenDocument,
            FileKind::OleCompound,
            FileKind::Pdf,
            FileKind::Rtf,
            FileKind::Mail,
            FileKind::Image,
            FileKind::Text,
        ] {
            assert!(k.is_document() && !k.is_executable(), "{k}");
        }
    }

    #[test]
    fn containers_and_unknown() {
        assert_eq!(sniff(b"7z\xbc\xaf\x27\x1c\x00\x04"), FileKind::SevenZ);
        assert_eq!(sniff(b"\x1f\x8b\x08\x00"), FileKind::Gzip);
        assert_eq!(sniff(b"BZh91AY&SY"), FileKind::Bzip2);
        assert_eq!(sniff(b"\xfd7zXZ\x00\x00"), FileKind::Xz);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar), FileKind::Tar);
        assert_eq!(sniff(b"\x00\x01\x02\x03binary"), FileKind::Unknown);
        assert_eq!(sniff(b""), FileKind::Unknown);
        for k in FileKind::ALL {
            assert_eq!(FileKind::from_name(k.name()), Some(k));
        }
    }
}
