//! A channel's fixtures, read from its folder: every `.json` file in `src/KIND/fixtures`
//! but those a kit names as API answers rather than deliveries.

/// `(name, bytes)` of each fixture in `src/{folder}/fixtures`, sorted by name.
pub fn read(folder: &str, except: &[&str]) -> Vec<(String, Vec<u8>)> {
    let dir = format!("{}/src/{folder}/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .filter_map(|path| {
            let name = path.file_stem()?.to_str()?.to_string();
            (!except.contains(&name.as_str())).then(|| {
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
                (name, bytes)
            })
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no fixtures in {dir}");
    found
}
