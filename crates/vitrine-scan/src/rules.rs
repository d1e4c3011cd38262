//! Loading a rule set: YARA sources compiled with yara-x, plus hash
//! signatures. All or nothing: one bad rule or signature line and no
//! [`RuleSet`] is built.

use sha2::Digest;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::hashdb::{HashDb, HashFormat};
use crate::Error;

/// The per-file external variables that public rule sets (LOKI, THOR, the
/// signature-base collection) expect the scanner to set for each file.
pub const PER_FILE_VARIABLES: [&str; 5] =
    ["filename", "filepath", "extension", "filetype", "owner"];

/// Largest YARA source file read.
const MAX_RULE_FILE: u64 = 64 * 1024 * 1024;

/// Where a rule set came from, shown in scan summaries.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleSource {
    /// The starter set compiled into the binary. Not from the log.
    Builtin,
    /// Rule and signature files named on the command line.
    Files,
    /// A bundle installed by the verified update path.
    VerifiedBundle {
        /// The bundle's name from its manifest.
        name: String,
        /// The bundle's version.
        version: u64,
        /// The log index of its `rules` statement.
        log_index: u64,
    },
    /// Several bundles installed by the verified update path, one per
    /// channel the endpoint follows (policy `bundle` lines), by name.
    VerifiedBundles {
        /// Each bundle, as for [`RuleSource::VerifiedBundle`].
        bundles: Vec<BundleRef>,
    },
}

/// One verified bundle of a [`RuleSource::VerifiedBundles`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BundleRef {
    /// The bundle's name from its manifest (its channel).
    pub name: String,
    /// The bundle's version.
    pub version: u64,
    /// The log index of its `rules` statement.
    pub log_index: u64,
}

impl RuleSource {
    /// A one-line description for people.
    pub fn describe(&self) -> String {
        match self {
            RuleSource::Builtin => {
                "built-in starter set (UNVERIFIED: not from the transparency log)".into()
            }
            RuleSource::Files => "rule files given on the command line (not verified)".into(),
            RuleSource::VerifiedBundle {
                name,
                version,
                log_index,
            } => format!("verified bundle {name} v{version} (log index {log_index})"),
            RuleSource::VerifiedBundles { bundles } => format!(
                "verified bundles {}",
                bundles
                    .iter()
                    .map(|b| format!("{} v{} (log index {})", b.name, b.version, b.log_index))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// A value for an external variable, as given with `--define VAR=VALUE`.
#[derive(Clone, Debug, PartialEq)]
pub enum VarValue {
    /// `true` / `false`.
    Bool(bool),
    /// A decimal integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Anything else; surrounding double quotes are removed.
    Str(String),
}

impl VarValue {
    /// Parses a value the way `yr --define` does: bool, then integer, then
    /// float, else a string (optionally double-quoted).
    pub fn parse(s: &str) -> VarValue {
        match s {
            "true" => return VarValue::Bool(true),
            "false" => return VarValue::Bool(false),
            _ => {}
        }
        if let Ok(i) = s.parse::<i64>() {
            return VarValue::Int(i);
        }
        if let Ok(f) = s.parse::<f64>() {
            return VarValue::Float(f);
        }
        let unquoted = s
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(s);
        VarValue::Str(unquoted.to_string())
    }
}

/// Builds a [`RuleSet`].
///
/// ```
/// use vitrine_scan::RulesBuilder;
/// let mut b = RulesBuilder::new();
/// b.add_yara_source("inline", r#"rule t { strings: $a = "xyz" condition: $a }"#);
/// let rules = b.build().unwrap();
/// assert_eq!(rules.yara_rule_count(), 1);
/// ```
pub struct RulesBuilder {
    /// (namespace, origin, text).
    yara: Vec<(Option<String>, String, String)>,
    namespace: Option<String>,
    hashes: HashDb,
    hash_errors: Vec<crate::HashLineError>,
    defines: Vec<(String, VarValue)>,
    source: RuleSource,
    /// Digest of everything added, in order (the scan cache's key).
    digest: sha2::Sha256,
}

impl Default for RulesBuilder {
    fn default() -> Self {
        RulesBuilder::new()
    }
}

impl RulesBuilder {
    /// An empty builder; its rule set is labelled [`RuleSource::Files`].
    pub fn new() -> RulesBuilder {
        RulesBuilder {
            yara: Vec::new(),
            namespace: None,
            hashes: HashDb::new(),
            hash_errors: Vec::new(),
            defines: Vec::new(),
            source: RuleSource::Files,
            digest: sha2::Sha256::new(),
        }
    }

    /// The built-in starter set: EICAR and a few well-known families.
    pub fn builtin() -> RulesBuilder {
        let mut b = RulesBuilder::new();
        let files = crate::builtin::starter_files();
        for (name, text) in files.iter().filter(|(n, _)| n.ends_with(".yar")) {
            b.add_yara_source(&format!("builtin:{name}"), text);
        }
        for (name, text) in files.iter().filter(|(n, _)| !n.ends_with(".yar")) {
            b.add_hash_source(
                &PathBuf::from(format!("builtin:{name}")),
                text,
                HashFormat::from_path(Path::new(name)),
            );
        }
        b.source = RuleSource::Builtin;
        b
    }

    /// Labels the rule set built.
    pub fn source(&mut self, source: RuleSource) -> &mut Self {
        self.source = source;
        self
    }

    /// YARA sources added from now on go into namespace `ns` (so that two
    /// bundles may both name a rule `X`); `None`: the default namespace.
    pub fn namespace(&mut self, ns: Option<&str>) -> &mut Self {
        self.absorb(b"namespace", ns.unwrap_or("").as_bytes());
        self.namespace = ns.map(str::to_owned);
        self
    }

    /// Adds YARA source text; `origin` names it in error messages.
    pub fn add_yara_source(&mut self, origin: &str, text: &str) -> &mut Self {
        self.absorb(b"yara", text.as_bytes());
        self.yara
            .push((self.namespace.clone(), origin.to_string(), text.to_string()));
        self
    }

    /// Adds a `.yar`/`.yara` file, or every such file under a directory
    /// (sorted, so the set is the same on every machine). Outside a
    /// namespace set with [`RulesBuilder::namespace`], each file gets its
    /// own namespace, named by its path, as `yr` and `yara` do with several
    /// files: two files may both define a rule `X`.
    pub fn add_yara_path(&mut self, path: &Path) -> Result<&mut Self, Error> {
        let outer = self.namespace.clone();
        for file in collect_files(path, &["yar", "yara"])? {
            let text = read_limited(&file, MAX_RULE_FILE)?;
            let text = String::from_utf8(text)
                .map_err(|_| Error::RuleFileNotUtf8 { path: file.clone() })?;
            let origin = file.display().to_string();
            if outer.is_none() {
                self.namespace(Some(&origin));
            }
            self.add_yara_source(&origin, &text);
        }
        if outer.is_none() {
            self.namespace(None);
        }
        Ok(self)
    }

    /// Adds a hash-signature file (`.hdb` or `.hsb`), or every such file
    /// under a directory.
    pub fn add_hash_path(&mut self, path: &Path) -> Result<&mut Self, Error> {
        for file in collect_files(path, &["hdb", "hsb"])? {
            let format = HashFormat::from_path(&file);
            let mut h = sha2::Sha256::new();
            std::io::copy(
                &mut std::fs::File::open(&file).map_err(|source| Error::RuleFileRead {
                    path: file.clone(),
                    source,
                })?,
                &mut h,
            )
            .map_err(|source| Error::RuleFileRead {
                path: file.clone(),
                source,
            })?;
            self.absorb(format!("{format:?}").as_bytes(), &h.finalize());
            match self.hashes.add_file(&file, format) {
                Ok(()) => {}
                Err(crate::hashdb::AddError::Lines(errors)) => self.hash_errors.extend(errors),
                Err(crate::hashdb::AddError::Io(source)) => {
                    return Err(Error::RuleFileRead { path: file, source })
                }
            }
        }
        Ok(self)
    }

    /// Adds hash signatures from text.
    pub fn add_hash_source(&mut self, origin: &Path, text: &str, format: HashFormat) -> &mut Self {
        self.absorb(format!("{format:?}").as_bytes(), text.as_bytes());
        if let Err(errors) = self.hashes.add_text(origin, text, format) {
            self.hash_errors.extend(errors);
        }
        self
    }

    /// Defines an external variable for every scan (`--define`).
    pub fn define(&mut self, name: &str, value: VarValue) -> &mut Self {
        self.absorb(b"define", format!("{name}={value:?}").as_bytes());
        self.defines.push((name.to_string(), value));
        self
    }

    fn absorb(&mut self, kind: &[u8], bytes: &[u8]) {
        for part in [kind, bytes] {
            self.digest.update((part.len() as u64).to_le_bytes());
            self.digest.update(part);
        }
    }

    /// Compiles everything. The first compile error stops the build and is
    /// returned with its origin, line and column.
    pub fn build(self) -> Result<RuleSet, Error> {
        let (rules, warnings) = self.compile()?;
        self.finish(Loaded::Compiled(Box::new(rules)), warnings)
    }

    /// Like [`RulesBuilder::build`], but the compiled YARA rules are kept in
    /// `dir` (a private directory: created `0700`, refused if others can
    /// write it) under a key made of every source, variable and namespace
    /// and yara-x's version, so the next scan with the same rules loads them
    /// instead of compiling. A cache file carries its key and the SHA-256
    /// of its contents, checked on load; one that does not check, or does
    /// not load, is compiled again and replaced. Compiled rules hold native
    /// code: a cache file is read only from a directory nobody else can
    /// write, and a cache that cannot be used never stops the scan.
    ///
    /// A checked cache file is turned back into yara-x rules only when the
    /// first file is matched: a rescan whose files all come from the scan
    /// cache never pays for it. Should that fail, the sources are compiled
    /// then and the cache file replaced.
    pub fn build_cached(self, dir: &Path) -> Result<(RuleSet, RulesCache), Error> {
        let key = self.cache_key();
        let path = dir.join(format!("{}.rules", hex::encode(key)));
        let why_not = match load_cached(dir, &path, &key) {
            Ok(Some(cached)) => {
                let warnings = cached.warnings;
                let loaded = Loaded::Cached {
                    payload: cached.payload,
                    start: cached.start,
                    rule_count: cached.rule_count,
                    store: (dir.to_path_buf(), path, key),
                };
                return Ok((self.finish(loaded, warnings)?, RulesCache::Hit));
            }
            Ok(None) => None,
            Err(reason) => Some(reason),
        };
        let (rules, warnings) = self.compile()?;
        let stored = store_cached(dir, &path, &key, &rules, &warnings);
        let used = match (why_not, stored) {
            (_, Err(reason)) => RulesCache::NotStored(reason),
            (Some(reason), Ok(())) => RulesCache::Replaced(reason),
            (None, Ok(())) => RulesCache::Stored,
        };
        Ok((
            self.finish(Loaded::Compiled(Box::new(rules)), warnings)?,
            used,
        ))
    }

    /// The compiled-rules cache key: the digest of everything added (in
    /// order, namespaces and variables included) and yara-x's version.
    fn cache_key(&self) -> [u8; 32] {
        let mut h = self.digest.clone();
        h.update(b"\0vitrine-rules-cache-v2\0yara-x ");
        h.update(yara_x::VERSION.as_bytes());
        h.finalize().into()
    }

    /// Compiles the YARA sources; returns the rules and yara-x's warnings,
    /// one line each (`origin:line:column: title (code)`).
    fn compile(&self) -> Result<(yara_x::Rules, Vec<String>), Error> {
        compile_sources(&self.yara, &self.defines)
    }

    fn finish(self, loaded: Loaded, warnings: Vec<String>) -> Result<RuleSet, Error> {
        // The per-file variables are set for each file only when some rule
        // mentions them (and the user did not define them).
        let mut per_file = [false; 5];
        for (i, var) in PER_FILE_VARIABLES.iter().enumerate() {
            per_file[i] = !self.defines.iter().any(|(n, _)| n == var)
                && self.yara.iter().any(|(_, _, text)| mentions(text, var));
        }
        if !self.hash_errors.is_empty() {
            return Err(Error::HashSyntax {
                errors: self.hash_errors,
            });
        }
        let mut hashes = self.hashes;
        hashes.finish();

        let (rules, pending, yara_rule_count) = match loaded {
            Loaded::Compiled(rules) => {
                let n = rules.iter().len();
                (OnceLock::from(Ok(*rules)), None, n)
            }
            Loaded::Cached {
                payload,
                start,
                rule_count,
                store,
            } => (
                OnceLock::new(),
                Some(Pending {
                    payload,
                    start,
                    yara: self.yara,
                    defines: self.defines,
                    store,
                }),
                rule_count,
            ),
        };
        Ok(RuleSet {
            rules,
            pending: Mutex::new(pending),
            hashes,
            per_file,
            yara_rule_count,
            source: self.source,
            digest: self.digest.finalize().into(),
            warnings,
        })
    }
}

/// (namespace, origin, text) of each YARA source, in order.
type Sources = Vec<(Option<String>, String, String)>;

/// Compiles YARA sources with external variables; returns the rules and
/// yara-x's warnings, one line each (`origin:line:column: title (code)`).
fn compile_sources(
    yara: &Sources,
    defines: &[(String, VarValue)],
) -> Result<(yara_x::Rules, Vec<String>), Error> {
    let mut compiler = yara_x::Compiler::new();
    compiler.colorize_errors(false);
    for (name, value) in defines {
        let r = match value {
            VarValue::Bool(b) => compiler.define_global(name, *b),
            VarValue::Int(i) => compiler.define_global(name, *i),
            VarValue::Float(f) => compiler.define_global(name, *f),
            VarValue::Str(s) => compiler.define_global(name, s.as_str()),
        };
        r.map_err(|e| Error::Define {
            name: name.clone(),
            message: e.to_string(),
        })?;
    }
    // The per-file variables are declared unless the user defined them.
    for var in PER_FILE_VARIABLES {
        if defines.iter().any(|(n, _)| n == var) {
            continue;
        }
        compiler.define_global(var, "").map_err(|e| Error::Define {
            name: var.to_string(),
            message: e.to_string(),
        })?;
    }
    let mut current: Option<&str> = None;
    for (ns, origin, text) in yara {
        if ns.as_deref() != current {
            compiler.new_namespace(ns.as_deref().unwrap_or("default"));
            current = ns.as_deref();
        }
        let src = yara_x::SourceCode::from(text.as_str()).with_origin(origin.as_str());
        if let Err(err) = compiler.add_source(src) {
            let (line, column) = err
                .labels()
                .next()
                .map(|l| line_col(text, l.span().0.start as usize))
                .unwrap_or((0, 0));
            return Err(Error::RuleCompile {
                origin: origin.clone(),
                line,
                column,
                message: err.title().to_string(),
                report: err.to_string(),
            });
        }
    }
    let rules = compiler.build();
    // Warnings can number thousands, in long files: each source's line
    // starts are found once, not counted again from the top per warning.
    let mut by_origin: HashMap<&str, (&str, Option<LineIndex>)> = HashMap::new();
    for (_, origin, text) in yara.iter().rev() {
        by_origin.insert(origin, (text, None));
    }
    let warnings = rules
        .warnings()
        .iter()
        .map(|w| {
            let place = w.labels().next().and_then(|l| {
                let origin = l.origin()?;
                let (text, index) = by_origin.get_mut(origin)?;
                let index = index.get_or_insert_with(|| LineIndex::new(text));
                let (line, col) = index.line_col(text, l.span().0.start as usize);
                Some(format!("{origin}:{line}:{col}: "))
            });
            format!("{}{} ({})", place.unwrap_or_default(), w.title(), w.code())
        })
        .collect();
    Ok((rules, warnings))
}

/// What [`RulesBuilder::build_cached`] did with the compiled-rules cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RulesCache {
    /// The compiled rules were loaded from the cache.
    Hit,
    /// Compiled, and stored for the next time.
    Stored,
    /// The cache file could not be used (why); compiled and replaced.
    Replaced(String),
    /// Compiled; the cache could not be written (why).
    NotStored(String),
}

/// First line of a compiled-rules cache file.
const CACHE_MAGIC: &[u8] = b"VITRINE-RULES-CACHE-3\n";
/// Largest cache file read.
const MAX_CACHE_FILE: u64 = 2 << 30;
/// Cache files kept (the newest); older ones are removed.
const CACHE_KEEP: usize = 4;

/// A checked compiled-rules cache file, not yet turned into yara-x rules.
struct CachedRules {
    warnings: Vec<String>,
    rule_count: usize,
    /// The file; yara-x's serialized rules from `start` on.
    payload: Vec<u8>,
    start: usize,
}

/// The cached rules for `key`: `Ok(None)` if there are none, `Err(why)` if
/// there is a file that cannot be used.
///
/// Format: magic, key (32 bytes), SHA-256 of the rest (32 bytes), then the
/// warnings' length (u32 LE), the warnings (UTF-8, one a line), the number
/// of rules (u64 LE) and yara-x's serialized rules.
fn load_cached(dir: &Path, path: &Path, key: &[u8; 32]) -> Result<Option<CachedRules>, String> {
    if !dir.exists() {
        return Ok(None);
    }
    vitrine_fs::check_private_dir(dir).map_err(|e| e.to_string())?;
    let data = match std::fs::File::open(path) {
        Ok(f) => {
            let mut data = Vec::new();
            f.take(MAX_CACHE_FILE + 1)
                .read_to_end(&mut data)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            data
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let not_cache = || format!("{}: not a compiled-rules cache file", path.display());
    let head = CACHE_MAGIC.len() + 64;
    if data.len() < head + 4 || data.len() as u64 > MAX_CACHE_FILE || !data.starts_with(CACHE_MAGIC)
    {
        return Err(not_cache());
    }
    let (k, rest) = data[CACHE_MAGIC.len()..].split_at(32);
    let (sum, body) = rest.split_at(32);
    if k != key {
        return Err(format!("{}: made for other rules", path.display()));
    }
    if sum != sha2::Sha256::digest(body).as_slice() {
        return Err(format!(
            "{}: damaged (its SHA-256 does not match)",
            path.display()
        ));
    }
    let (len, body) = body.split_at(4);
    let len = u32::from_le_bytes(len.try_into().map_err(|_| not_cache())?) as usize;
    if len.saturating_add(8) > body.len() {
        return Err(not_cache());
    }
    let (warnings, rest) = body.split_at(len);
    let warnings = std::str::from_utf8(warnings)
        .map_err(|_| not_cache())?
        .lines()
        .map(str::to_owned)
        .collect();
    let (count, _) = rest.split_at(8);
    let rule_count = u64::from_le_bytes(count.try_into().map_err(|_| not_cache())?) as usize;
    Ok(Some(CachedRules {
        warnings,
        rule_count,
        start: head + 4 + len + 8,
        payload: data,
    }))
}

fn store_cached(
    dir: &Path,
    path: &Path,
    key: &[u8; 32],
    rules: &yara_x::Rules,
    warnings: &[String],
) -> Result<(), String> {
    vitrine_fs::private_dir(dir).map_err(|e| e.to_string())?;
    let payload = rules.serialize().map_err(|e| e.to_string())?;
    let warnings = warnings.join("\n");
    let mut body = Vec::with_capacity(12 + warnings.len() + payload.len());
    body.extend_from_slice(&(warnings.len() as u32).to_le_bytes());
    body.extend_from_slice(warnings.as_bytes());
    body.extend_from_slice(&(rules.iter().len() as u64).to_le_bytes());
    body.extend_from_slice(&payload);
    let mut data = Vec::with_capacity(CACHE_MAGIC.len() + 64 + body.len());
    data.extend_from_slice(CACHE_MAGIC);
    data.extend_from_slice(key);
    data.extend_from_slice(&sha2::Sha256::digest(&body));
    data.extend_from_slice(&body);
    vitrine_fs::write_atomic(path, &data, 0o600).map_err(|e| e.to_string())?;
    // Keep the newest few: each bundle version leaves one file.
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".rules"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        for (_, old) in files.into_iter().skip(CACHE_KEEP) {
            if old != path {
                let _ = std::fs::remove_file(old);
            }
        }
    }
    Ok(())
}

/// How [`RulesBuilder::finish`] gets the yara-x rules.
enum Loaded {
    /// Compiled in this process.
    Compiled(Box<yara_x::Rules>),
    /// A checked cache file, deserialized when first needed.
    Cached {
        payload: Vec<u8>,
        start: usize,
        rule_count: usize,
        /// Cache directory, file and key, to replace the file should the
        /// payload not deserialize.
        store: (PathBuf, PathBuf, [u8; 32]),
    },
}

/// What turns a cached rule set into yara-x rules on first use: the
/// serialized rules, and the sources to compile should they not load.
struct Pending {
    /// yara-x's serialized rules from `start` on.
    payload: Vec<u8>,
    start: usize,
    yara: Sources,
    defines: Vec<(String, VarValue)>,
    store: (PathBuf, PathBuf, [u8; 32]),
}

impl Pending {
    fn load(self) -> Result<yara_x::Rules, String> {
        let Pending {
            payload,
            start,
            yara,
            defines,
            store: (dir, path, key),
        } = self;
        let rules = yara_x::Rules::deserialize(&payload[start..]);
        drop(payload);
        match rules {
            Ok(rules) => Ok(rules),
            Err(_) => {
                // Checked by its SHA-256 and key, yet not loadable: compile
                // the sources it was made from, and replace it.
                let (rules, warnings) = compile_sources(&yara, &defines)
                    .map_err(|e| format!("compiling the rules: {e}"))?;
                let _ = store_cached(&dir, &path, &key, &rules, &warnings);
                Ok(rules)
            }
        }
    }
}

/// A compiled, immutable rule set, shared by all scan threads.
pub struct RuleSet {
    /// The yara-x rules, or why they could not be had; set at once when
    /// compiled, on first use when loaded from the cache.
    rules: OnceLock<Result<yara_x::Rules, String>>,
    pending: Mutex<Option<Pending>>,
    pub(crate) hashes: HashDb,
    /// Which of [`PER_FILE_VARIABLES`] must be set for each file.
    pub(crate) per_file: [bool; 5],
    yara_rule_count: usize,
    source: RuleSource,
    digest: [u8; 32],
    warnings: Vec<String>,
}

impl RuleSet {
    /// The yara-x rules, deserialized from the compiled-rules cache on the
    /// first call if that is where they come from (other threads wait).
    pub(crate) fn yara(&self) -> Result<&yara_x::Rules, &str> {
        self.rules
            .get_or_init(|| {
                let pending = self
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                match pending {
                    Some(p) => p.load(),
                    None => Err("the compiled rules were lost".to_string()),
                }
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// Loads the yara-x rules now if they come from the compiled-rules
    /// cache and no file has been matched yet: for a long-running scanner
    /// (the daemon) that would rather pay for it at start or reload than on
    /// its first request. An error says why the rules could not be had.
    pub fn load(&self) -> Result<(), String> {
        self.yara().map(|_| ()).map_err(str::to_owned)
    }

    /// Whether the yara-x rules are in memory (compiled, or loaded from the
    /// cache by [`RuleSet::load`] or a first match).
    pub fn is_loaded(&self) -> bool {
        self.rules.get().is_some()
    }

    /// yara-x's compiler warnings, one line each (`origin:line:column:
    /// title (code)`); kept with the compiled rules in the cache.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Number of YARA rules.
    pub fn yara_rule_count(&self) -> usize {
        self.yara_rule_count
    }

    /// Number of hash signatures.
    pub fn hash_count(&self) -> usize {
        self.hashes.len()
    }

    /// A digest of every rule source, signature file and variable, in the
    /// order they were added: equal digests mean the same verdicts.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// Where these rules came from.
    pub fn source(&self) -> &RuleSource {
        &self.source
    }
}

/// Whether `ident` occurs in `text` as a whole word.
fn mentions(text: &str, ident: &str) -> bool {
    let bytes = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    text.match_indices(ident).any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + ident.len()).copied();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    LineIndex::new(text).line_col(text, offset)
}

/// Where each line of a text starts, for many [`line_col`] look-ups.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let newlines = newline_ends(text.as_bytes());
        LineIndex {
            starts: std::iter::once(0).chain(newlines).collect(),
        }
    }

    /// As [`line_col`], for the text this index was made from.
    fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let line_start = self.starts[line - 1];
        let column = String::from_utf8_lossy(&text.as_bytes()[line_start..offset])
            .chars()
            .count()
            + 1;
        (line, column)
    }
}

/// The offset just after each `\n` in `bytes`.
fn newline_ends(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
}

fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let file = std::fs::File::open(path).map_err(|source| Error::RuleFileRead {
        path: path.to_path_buf(),
        source,
    })?;
    let mut buf = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|source| Error::RuleFileRead {
            path: path.to_path_buf(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(Error::RuleFileTooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(buf)
}

/// A file itself, or the files with one of `exts` under a directory, sorted.
fn collect_files(path: &Path, exts: &[&str]) -> Result<Vec<PathBuf>, Error> {
    let meta = std::fs::metadata(path).map_err(|source| Error::RuleFileRead {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| Error::RuleFileRead {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| Error::RuleFileRead {
                path: dir.clone(),
                source,
            })?;
            let p = entry.path();
            let ft = entry.file_type().map_err(|source| Error::RuleFileRead {
                path: p.clone(),
                source,
            })?;
            if ft.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(Error::NoRuleFiles {
            path: path.to_path_buf(),
            extensions: exts.iter().map(|e| format!(".{e}")).collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_whole_words_only() {
        assert!(mentions("condition: filename == \"a\"", "filename"));
        assert!(!mentions("condition: myfilename", "filename"));
        assert!(!mentions("filename_x", "filename"));
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    /// One index answers every offset as counting from the top would,
    /// newlines, multi-byte characters and the end included.
    #[test]
    fn line_index_matches_counting_from_the_top() {
        let text = "rule a {\n  strings: $x = \"é€\"\n\n  condition: $x\n}";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 3 {
            let o = offset.min(text.len());
            let before = &text.as_bytes()[..o];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let start = before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let col = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
            assert_eq!(index.line_col(text, offset), (line, col), "offset {offset}");
        }
    }

    #[test]
    fn var_values_parse_like_yr() {
        assert_eq!(VarValue::parse("true"), VarValue::Bool(true));
        assert_eq!(VarValue::parse("42"), VarValue::Int(42));
        assert_eq!(VarValue::parse("1.5"), VarValue::Float(1.5));
        assert_eq!(VarValue::parse("\"x y\""), VarValue::Str("x y".into()));
        assert_eq!(VarValue::parse("abc"), VarValue::Str("abc".into()));
    }

    #[test]
    fn compile_error_has_location() {
        let mut b = RulesBuilder::new();
        b.add_yara_source("ok.yar", "rule a { condition: true }");
        b.add_yara_source("bad.yar", "rule b {\n  condition:\n    $nope\n}\n");
        match b.build() {
            Err(Error::RuleCompile {
                origin,
                line,
                column,
                ..
            }) => {
                assert_eq!(origin, "bad.yar");
                assert_eq!((line, column), (3, 5));
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("broken rule compiled"),
        }
    }

    #[test]
    fn builtin_set_compiles_and_is_labelled_unverified() {
        let rules = RulesBuilder::builtin().build().unwrap();
        assert!(rules.yara_rule_count() >= 6);
        assert!(rules.hash_count() >= 1);
        assert_eq!(rules.source(), &RuleSource::Builtin);
        assert!(rules.source().describe().contains("UNVERIFIED"));
    }

    fn eicar_rules() -> RulesBuilder {
        let mut b = RulesBuilder::new();
        b.add_yara_source(
            "e.yar",
            "rule Cached_EICAR { strings: $a = \"EICAR-STANDARD\" condition: $a }",
        );
        b
    }

    fn detections(rules: &RuleSet, data: &[u8]) -> Vec<String> {
        let opts = crate::ScanOptions::default();
        let progress = crate::Progress::default();
        let mut session = crate::Session::new(rules, &opts, &progress);
        let report = session.scan_bytes("data".into(), data.to_vec());
        assert_eq!(report.outcome, crate::Outcome::Scanned);
        report
            .detections
            .iter()
            .map(|d| d.name().to_string())
            .collect()
    }

    /// A cache hit keeps the compiled rules on disk until a file is matched:
    /// a scan whose files all come from the scan cache never loads them.
    #[test]
    fn cached_rules_load_on_first_match() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("rules-cache");
        let (fresh, used) = eicar_rules().build_cached(&cache).unwrap();
        assert_eq!(used, RulesCache::Stored);
        assert!(fresh.is_loaded());
        let (rules, used) = eicar_rules().build_cached(&cache).unwrap();
        assert_eq!(used, RulesCache::Hit);
        assert_eq!(rules.yara_rule_count(), 1);
        assert!(
            !rules.is_loaded(),
            "deserialized before any file was matched"
        );
        assert_eq!(detections(&rules, b"x EICAR-STANDARD y"), ["Cached_EICAR"]);
        assert!(rules.is_loaded());
        assert!(detections(&rules, b"clean").is_empty());

        // Or when asked to.
        let (early, _) = eicar_rules().build_cached(&cache).unwrap();
        assert!(!early.is_loaded());
        early.load().unwrap();
        assert!(early.is_loaded());
    }

    /// A cache file that passes its checks but does not deserialize is not
    /// fatal when it is found out late: the sources are compiled then, the
    /// detections are the same, and the file is replaced by a good one.
    #[test]
    fn cached_rules_that_do_not_load_are_compiled_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("rules-cache");
        eicar_rules().build_cached(&cache).unwrap();
        let key = eicar_rules().cache_key();
        let path = cache.join(format!("{}.rules", hex::encode(key)));
        let mut body = Vec::new();
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&1u64.to_le_bytes());
        body.extend_from_slice(b"not yara-x rules");
        let mut bad = CACHE_MAGIC.to_vec();
        bad.extend_from_slice(&key);
        bad.extend_from_slice(&sha2::Sha256::digest(&body));
        bad.extend_from_slice(&body);
        std::fs::write(&path, &bad).unwrap();

        let (rules, used) = eicar_rules().build_cached(&cache).unwrap();
        assert_eq!(used, RulesCache::Hit);
        assert_eq!(detections(&rules, b"x EICAR-STANDARD y"), ["Cached_EICAR"]);
        assert_ne!(std::fs::read(&path).unwrap(), bad, "not replaced");
        let (again, used) = eicar_rules().build_cached(&cache).unwrap();
        assert_eq!(used, RulesCache::Hit);
        assert_eq!(detections(&again, b"x EICAR-STANDARD y"), ["Cached_EICAR"]);
    }

    /// A rescan whose files all come from the scan cache does not load the
    /// cached compiled rules at all (the workers make their scanners for
    /// the first file they match).
    #[test]
    fn rescan_from_the_scan_cache_does_not_load_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("rules-cache");
        let tree = dir.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        std::fs::write(tree.join("clean.txt"), b"nothing here").unwrap();
        // The scan cache keeps only files whose times are over a second old.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let scan = |rules: &RuleSet| {
            let opts = crate::ScanOptions::default().threads(2);
            let db = dir.path().join("scan-cache.sqlite");
            let sc = crate::cache::ScanCache::open(&db, &opts.cache_profile(rules)).unwrap();
            let opts = opts.cache(Some(std::sync::Arc::new(sc)));
            let targets = [crate::Target::Path(tree.clone())];
            crate::scan(rules, &opts, &targets, &crate::Progress::default(), |_| {}).unwrap()
        };
        let (first, _) = eicar_rules().build_cached(&cache).unwrap();
        assert_eq!(scan(&first).cached, 0);
        let (rules, used) = eicar_rules().build_cached(&cache).unwrap();
        assert_eq!(used, RulesCache::Hit);
        let summary = scan(&rules);
        assert_eq!((summary.files_scanned, summary.cached), (1, 1));
        assert!(
            !rules.is_loaded(),
            "rules loaded for a scan that matched nothing"
        );
    }
}
