//! Document containers for canaries: the bytes a word processor, a
//! spreadsheet, a PDF writer or a mail client would write around a text.

use std::io::Write as _;

use base64::Engine as _;

use crate::CanaryError;

/// XML text content, escaped.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A ZIP archive (deflate) of `members`, in order.
pub(crate) fn zip(members: &[(&str, &[u8])]) -> Result<Vec<u8>, CanaryError> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in members {
        // OpenDocument wants its `mimetype` first and stored.
        let method = if *name == "mimetype" {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(zip::DateTime::default());
        w.start_file(*name, opts).map_err(CanaryError::Zip)?;
        w.write_all(data).map_err(|e| CanaryError::Zip(e.into()))?;
    }
    Ok(w.finish().map_err(CanaryError::Zip)?.into_inner())
}

/// A Word document (OOXML) whose paragraphs are `lines`.
pub(crate) fn docx(lines: &[String]) -> Result<Vec<u8>, CanaryError> {
    let body: String = lines
        .iter()
        .map(|l| {
            format!(
                "<w:p><w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
                xml(l)
            )
        })
        .collect();
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{body}</w:body></w:document>"
    );
    zip(&[
        ("[Content_Types].xml", CONTENT_TYPES_DOCX.as_bytes()),
        ("_rels/.rels", RELS_DOCX.as_bytes()),
        ("word/document.xml", doc.as_bytes()),
    ])
}

/// An Excel workbook (OOXML) with `cells` as shared strings.
pub(crate) fn xlsx(cells: &[String]) -> Result<Vec<u8>, CanaryError> {
    let strings: String = cells
        .iter()
        .map(|c| format!("<si><t>{}</t></si>", xml(c)))
        .collect();
    let shared = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" count=\"{n}\" uniqueCount=\"{n}\">{strings}</sst>",
        n = cells.len()
    );
    let rows: String = (0..cells.len())
        .map(|i| {
            format!(
                "<row r=\"{r}\"><c r=\"A{r}\" t=\"s\"><v>{i}</v></c></row>",
                r = i + 1
            )
        })
        .collect();
    let sheet = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>{rows}</sheetData></worksheet>"
    );
    zip(&[
        ("[Content_Types].xml", CONTENT_TYPES_XLSX.as_bytes()),
        ("xl/workbook.xml", WORKBOOK.as_bytes()),
        ("xl/sharedStrings.xml", shared.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ])
}

/// An OpenDocument text whose paragraphs are `lines`.
pub(crate) fn odt(lines: &[String]) -> Result<Vec<u8>, CanaryError> {
    let body: String = lines
        .iter()
        .map(|l| format!("<text:p>{}</text:p>", xml(l)))
        .collect();
    let content = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.3\"><office:body><office:text>{body}</office:text></office:body></office:document-content>"
    );
    zip(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", content.as_bytes()),
        ("META-INF/manifest.xml", MANIFEST_ODT.as_bytes()),
    ])
}

/// A one-page PDF 1.4 that shows `lines` (ASCII; others as `?`), with an
/// uncompressed content stream and a correct cross-reference table.
pub(crate) fn pdf(lines: &[String]) -> Vec<u8> {
    let mut stream = String::from("BT /F1 12 Tf 72 720 Td 14 TL\n");
    for l in lines {
        let t: String = l
            .chars()
            .map(|c| match c {
                '(' | ')' | '\\' => format!("\\{c}"),
                c if c.is_ascii() && !c.is_ascii_control() => c.to_string(),
                _ => "?".to_owned(),
            })
            .collect();
        stream.push_str(&format!("({t}) Tj T*\n"));
    }
    stream.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{stream}endstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// An RTF document; characters beyond ASCII as `\uN?` escapes, as Word
/// writes them.
pub(crate) fn rtf(lines: &[String]) -> Vec<u8> {
    let mut out = String::from(
        "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Times New Roman;}}\\f0\\fs24\n",
    );
    for l in lines {
        for c in l.chars() {
            match c {
                '\\' | '{' | '}' => {
                    out.push('\\');
                    out.push(c);
                }
                c if c.is_ascii() => out.push(c),
                c => {
                    for unit in c.encode_utf16(&mut [0; 2]) {
                        out.push_str(&format!("\\u{}?", *unit as i16));
                    }
                }
            }
        }
        out.push_str("\\par\n");
    }
    out.push('}');
    out.into_bytes()
}

/// Quoted-printable (RFC 2045 §6.7), lines of at most 76 characters.
fn quoted_printable(data: &[u8]) -> String {
    let mut out = String::new();
    let mut line = 0;
    for &b in data {
        let piece = match b {
            b'\n' => {
                out.push_str("\r\n");
                line = 0;
                continue;
            }
            b'\r' => continue,
            b'=' => "=3D".to_owned(),
            33..=126 | b' ' => char::from(b).to_string(),
            _ => format!("={b:02X}"),
        };
        if line + piece.len() > 75 {
            out.push_str("=\r\n");
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
    }
    out
}

/// Base64 in lines of 76 characters (RFC 2045 §6.8).
fn base64_lines(data: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(data);
    b.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// How a mail part's body is encoded.
#[derive(Clone, Copy)]
pub(crate) enum Transfer {
    Base64,
    QuotedPrintable,
}

/// An e-mail message: a UTF-8 text body in `transfer` encoding, and
/// attachments (name, MIME type, bytes) in base64.
pub(crate) fn email(
    subject: &str,
    from: &str,
    to: &str,
    body: &str,
    transfer: Transfer,
    attachments: &[(String, &str, Vec<u8>)],
) -> Vec<u8> {
    let boundary = "=_vitrine_canary_boundary";
    let mut out = format!(
        "Received: from mail.example.org (mail.example.org [192.0.2.25])\r\n\tby mx.example.net with ESMTPS; Mon, 30 Nov 2026 09:14:03 +0000\r\nMessage-ID: <canary.{}@example.org>\r\nDate: Mon, 30 Nov 2026 09:14:00 +0000\r\nFrom: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n",
        subject.len()
    );
    let (name, text) = match transfer {
        Transfer::Base64 => ("base64", base64_lines(body.as_bytes())),
        Transfer::QuotedPrintable => ("quoted-printable", quoted_printable(body.as_bytes())),
    };
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {name}\r\n\r\n{text}\r\n"
    ));
    for (file, mime, data) in attachments {
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: {mime}; name=\"{file}\"\r\nContent-Disposition: attachment; filename=\"{file}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64_lines(data)
        ));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out.into_bytes()
}

/// Text in windows-1251 (Russian legacy code page): Cyrillic letters
/// mapped, ASCII kept, anything else `?`.
pub(crate) fn cp1251(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            c if c.is_ascii() => c as u8,
            'А'..='я' => (c as u32 - 'А' as u32 + 0xC0) as u8,
            'Ё' => 0xA8,
            'ё' => 0xB8,
            _ => b'?',
        })
        .collect()
}

/// Text in windows-1252 / ISO 8859-1 (Western European legacy code
/// pages agree on the letters used here): U+00A0–U+00FF as one byte.
pub(crate) fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// UTF-16 with a byte-order mark.
pub(crate) fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for u in text.encode_utf16() {
        out.extend_from_slice(&if big_endian {
            u.to_be_bytes()
        } else {
            u.to_le_bytes()
        });
    }
    out
}

const CONTENT_TYPES_DOCX: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/><Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>";
const RELS_DOCX: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/></Relationships>";
const CONTENT_TYPES_XLSX: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"xml\" ContentType=\"application/xml\"/><Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/></Types>";
const WORKBOOK: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheets><sheet name=\"Sheet1\" sheetId=\"1\"/></sheets></workbook>";
const MANIFEST_ODT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" manifest:version=\"1.3\"><manifest:file-entry manifest:full-path=\"/\" manifest:media-type=\"application/vnd.oasis.opendocument.text\"/><manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/></manifest:manifest>";

/// UTF-8 bytes each followed by a zero byte: text that went through a
/// byte-wise "ANSI to Unicode" conversion (each UTF-8 byte read as one
/// Latin-1 character, saved as UTF-16LE). It is what YARA's `wide`
/// modifier matches for non-ASCII text.
pub(crate) fn widened(text: &str) -> Vec<u8> {
    text.bytes().flat_map(|b| [b, 0]).collect()
}

/// `text` XOR-ed with every single-byte key from 1 to 255, one copy after
/// the other: what a tool that hides documents from content inspection
/// with a one-byte key leaves on disk, for whichever key it chose.
pub(crate) fn xor_every_key(text: &str) -> Vec<u8> {
    (1..=255u8)
        .flat_map(|k| text.bytes().map(move |b| b ^ k))
        .collect()
}

/// A JSON export (as a web mail or ticketing system writes) holding a
/// file in one unbroken base64 line.
pub(crate) fn json_export(file: &str, data: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(data);
    format!(
        "{{\"export\":{{\"version\":1,\"attachments\":[{{\"name\":\"{file}\",\"encoding\":\"base64\",\"data\":\"{b}\"}}]}}}}\n"
    )
}

/// UTF-16LE without a byte-order mark.
fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

/// One node of a version resource (`VS_VERSIONINFO`, `StringFileInfo`,
/// `StringTable`, `String`): length, value length, type, key, value,
/// children, each 32-bit aligned.
fn version_node(
    key: &str,
    value: &[u8],
    value_len: u16,
    text: bool,
    children: &[Vec<u8>],
) -> Vec<u8> {
    let mut v = vec![0, 0];
    v.extend_from_slice(&value_len.to_le_bytes());
    v.extend_from_slice(&u16::from(text).to_le_bytes());
    v.extend_from_slice(&utf16le(key));
    v.extend_from_slice(&[0, 0]);
    pad4(&mut v);
    v.extend_from_slice(value);
    for child in children {
        pad4(&mut v);
        v.extend_from_slice(child);
    }
    let len = u16::try_from(v.len()).unwrap_or(u16::MAX);
    v[..2].copy_from_slice(&len.to_le_bytes());
    v
}

/// A resource-only DLL: a PE image with one `.rsrc` section holding a
/// version resource whose strings are `strings` (key, value), no code
/// section, no entry point, no imports. Localised Windows software ships
/// such files (MUI resources); here they carry markings in the metadata a
/// rule can read through the `pe` module.
pub(crate) fn resource_dll(strings: &[(&str, &str)]) -> Vec<u8> {
    // The version resource.
    let entries: Vec<Vec<u8>> = strings
        .iter()
        .map(|(k, val)| {
            let mut value = utf16le(val);
            value.extend_from_slice(&[0, 0]);
            let chars = u16::try_from(val.encode_utf16().count() + 1).unwrap_or(u16::MAX);
            version_node(k, &value, chars, true, &[])
        })
        .collect();
    let table = version_node("040904B0", &[], 0, true, &entries);
    let string_info = version_node("StringFileInfo", &[], 0, true, &[table]);
    let translation = version_node("Translation", &[0x09, 0x04, 0xB0, 0x04], 4, false, &[]);
    let var_info = version_node("VarFileInfo", &[], 0, true, &[translation]);
    let mut fixed = Vec::new();
    for word in [
        0xFEEF_04BDu32, // signature
        0x0001_0000,    // structure version
        0x0001_0000,    // file version 1.0.0.0
        0,
        0x0001_0000, // product version
        0,
        0x3F,        // flags mask
        0,           // flags
        0x0004_0004, // VOS_NT_WINDOWS32
        2,           // VFT_DLL
        0,
        0,
        0,
    ] {
        fixed.extend_from_slice(&word.to_le_bytes());
    }
    let version = version_node(
        "VS_VERSION_INFO",
        &fixed,
        52,
        false,
        &[string_info, var_info],
    );

    // The resource directory: type 16 (RT_VERSION) / id 1 / language 0x409.
    const RVA: u32 = 0x1000;
    let mut rsrc = Vec::new();
    let dir = |rsrc: &mut Vec<u8>, id: u32, next: u32| {
        rsrc.extend_from_slice(&[0; 12]); // characteristics, time, version
        rsrc.extend_from_slice(&0u16.to_le_bytes()); // named entries
        rsrc.extend_from_slice(&1u16.to_le_bytes()); // id entries
        rsrc.extend_from_slice(&id.to_le_bytes());
        rsrc.extend_from_slice(&next.to_le_bytes());
    };
    dir(&mut rsrc, 16, 0x8000_0000 | 24);
    dir(&mut rsrc, 1, 0x8000_0000 | 48);
    dir(&mut rsrc, 0x409, 72);
    let data_at = 88u32;
    let size = u32::try_from(version.len()).unwrap_or(u32::MAX);
    for word in [RVA + data_at, size, 0, 0] {
        rsrc.extend_from_slice(&word.to_le_bytes());
    }
    rsrc.extend_from_slice(&version);
    let virtual_size = u32::try_from(rsrc.len()).unwrap_or(u32::MAX);
    while !rsrc.len().is_multiple_of(0x200) {
        rsrc.push(0);
    }
    let raw_size = u32::try_from(rsrc.len()).unwrap_or(u32::MAX);
    let image_size = RVA + virtual_size.div_ceil(0x1000) * 0x1000;

    let mut pe = vec![0u8; 0x40];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3C..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    pe.extend_from_slice(b"PE\0\0");
    // COFF header: i386, one section, optional header of 224 bytes,
    // executable image | 32-bit | DLL.
    for (v, n) in [
        (0x14Cu32, 2),
        (1, 2),
        (0, 4),
        (0, 4),
        (0, 4),
        (224, 2),
        (0x2102, 2),
    ] {
        pe.extend_from_slice(&v.to_le_bytes()[..n]);
    }
    // Optional header (PE32).
    let fields: [(u32, usize); 30] = [
        (0x10B, 2),       // magic
        (14, 1),          // linker major
        (0, 1),           // linker minor
        (0, 4),           // size of code
        (raw_size, 4),    // initialised data
        (0, 4),           // uninitialised data
        (0, 4),           // entry point: none
        (0, 4),           // base of code
        (RVA, 4),         // base of data
        (0x1000_0000, 4), // image base
        (0x1000, 4),      // section alignment
        (0x200, 4),       // file alignment
        (6, 2),           // OS major
        (0, 2),           // OS minor
        (1, 2),           // image major
        (0, 2),           // image minor
        (6, 2),           // subsystem major
        (0, 2),           // subsystem minor
        (0, 4),           // Win32 version
        (image_size, 4),  // size of image
        (0x200, 4),       // size of headers
        (0, 4),           // checksum
        (2, 2),           // subsystem: GUI
        (0x0540, 2),      // dynamic base | NX | no SEH
        (0x0010_0000, 4), // stack reserve
        (0x1000, 4),      // stack commit
        (0x0010_0000, 4), // heap reserve
        (0x1000, 4),      // heap commit
        (0, 4),           // loader flags
        (16, 4),          // number of data directories
    ];
    for (v, n) in fields {
        pe.extend_from_slice(&v.to_le_bytes()[..n]);
    }
    for i in 0..16 {
        let (rva, size) = if i == 2 { (RVA, virtual_size) } else { (0, 0) };
        pe.extend_from_slice(&rva.to_le_bytes());
        pe.extend_from_slice(&size.to_le_bytes());
    }
    // The one section: initialised, readable data; neither code nor
    // executable.
    pe.extend_from_slice(b".rsrc\0\0\0");
    for v in [virtual_size, RVA, raw_size, 0x200, 0, 0, 0, 0x4000_0040] {
        pe.extend_from_slice(&v.to_le_bytes());
    }
    pe.resize(0x200, 0);
    pe.extend_from_slice(&rsrc);
    pe
}
