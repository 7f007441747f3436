//! Configuration beside the events: targets and storages, JSON values keyed by name.
//!
//! Creating one is a compare-and-swap on its name, so two concurrent creators cannot both
//! win; callers wait for a flush like an append does.

use crate::LedgerError;
use serde::{de::DeserializeOwned, Serialize};

/// Stores `value` under `name` unless the name is taken.
pub fn create<T: Serialize>(
    tree: &sled::Tree,
    what: &str,
    name: &str,
    value: &T,
) -> Result<(), LedgerError> {
    let json = serde_json::to_vec(value).expect("configuration serializes to JSON");
    match tree.compare_and_swap(name, None as Option<&[u8]>, Some(json))? {
        Ok(()) => Ok(()),
        Err(_) => Err(LedgerError::Exists(format!("{what} {name:?}"))),
    }
}

pub fn get<T: DeserializeOwned>(
    tree: &sled::Tree,
    path: &str,
    what: &str,
    name: &str,
) -> Result<Option<T>, LedgerError> {
    tree.get(name)?
        .map(|bytes| parse(path, what, name, &bytes))
        .transpose()
}

/// Every value, in name order.
pub fn list<T: DeserializeOwned>(
    tree: &sled::Tree,
    path: &str,
    what: &str,
) -> Result<Vec<T>, LedgerError> {
    tree.iter()
        .map(|item| {
            let (key, bytes) = item?;
            parse(path, what, &String::from_utf8_lossy(&key), &bytes)
        })
        .collect()
}

fn parse<T: DeserializeOwned>(
    path: &str,
    what: &str,
    name: &str,
    bytes: &[u8],
) -> Result<T, LedgerError> {
    serde_json::from_slice(bytes).map_err(|e| LedgerError::Corrupt {
        path: path.to_string(),
        detail: format!("the stored {what} {name:?} is unreadable: {e}"),
    })
}
