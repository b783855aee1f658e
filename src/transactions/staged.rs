//! Table operations inside an open transaction: reads that see the transaction's own writes and
//! record the versions they saw, and writes that are staged in its overlay instead of applied.
//! The store to read from is passed in; nothing here applies a write.

use crate::auth::{Owner, visible};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{
    Document, DocumentStore, Fields, ListQuery, Page, StoreCtx, TableName, merge_patch,
};

use super::{Staged, Transaction, TxManager, TxScope};

impl TxManager {
    async fn in_tx<T>(
        &self,
        scope: &TxScope,
        f: impl FnOnce(&mut Transaction) -> T,
    ) -> ApiResult<T> {
        self.with(&scope.id, &scope.owner, f)
            .await
            .map_err(ApiError::from)
    }

    /// The document as the transaction sees it; a first read from `store` records its version.
    pub async fn current(
        &self,
        store: &dyn DocumentStore,
        ctx: &StoreCtx,
        scope: &TxScope,
        table: &TableName,
        id: &str,
        owner: Option<&Owner>,
    ) -> ApiResult<Document> {
        let missing = || {
            ApiError::new(
                ErrorCode::NotFound,
                format!("document `{id}` not found in table `{table}`"),
            )
        };
        let view = self
            .peek(&scope.id, &scope.owner, |t| t.view(table, id).cloned())
            .await
            .map_err(ApiError::from)?;
        match view {
            Some(Some(doc)) => Ok(doc),
            Some(None) => Err(missing()),
            None => {
                let doc = store
                    .get(ctx, table, id)
                    .await?
                    .filter(|doc| visible(owner, &doc.fields))
                    .ok_or_else(missing)?;
                self.in_tx(scope, |t| t.record_read(table, &doc)).await?;
                Ok(doc)
            }
        }
    }

    /// A page as the transaction sees it: its own writes applied, its own inserts at the end.
    pub async fn list(
        &self,
        store: &dyn DocumentStore,
        ctx: &StoreCtx,
        scope: &TxScope,
        table: &TableName,
        query: &ListQuery,
    ) -> ApiResult<Page> {
        let page = store.list(ctx, table, query).await?;
        let matches = |doc: &Document| query.filters.iter().all(|f| f.matches(doc));
        self.in_tx(scope, |t| {
            let mut items = Vec::with_capacity(page.items.len());
            for doc in page.items {
                t.record_read(table, &doc);
                match t.view(table, &doc.id) {
                    Some(Some(staged)) if matches(staged) => items.push(staged.clone()),
                    Some(_) => {}
                    None => items.push(doc),
                }
            }
            if page.next_cursor.is_none() {
                // Documents the store could not return: staged inserts, and staged changes that
                // now match the filters although the stored version does not.
                let mut inserted: Vec<Document> = t
                    .overlay
                    .iter()
                    .filter(|(key, _)| &key.0 == table)
                    .filter(|(key, _)| t.base.get(*key).is_none_or(|stored| !matches(stored)))
                    .filter_map(|(_, doc)| doc.clone())
                    .filter(|doc| matches(doc))
                    .collect();
                inserted.sort_by(|a, b| {
                    a.creation_time
                        .unwrap_or_default()
                        .total_cmp(&b.creation_time.unwrap_or_default())
                        .then(a.id.cmp(&b.id))
                });
                items.extend(inserted);
            }
            Page {
                items,
                next_cursor: page.next_cursor,
            }
        })
        .await
    }

    /// Stages an insert; the document gets a provisional id, valid within the transaction.
    pub async fn stage_insert(
        &self,
        scope: &TxScope,
        table: &TableName,
        fields: Fields,
    ) -> ApiResult<Document> {
        let max = self.max_ops;
        self.in_tx(scope, |t| {
            if t.staged.len() >= max {
                return Err(too_many_staged(max));
            }
            let id = t.provisional_id();
            let doc = Document {
                id: id.clone(),
                creation_time: Some(now_ms()),
                version: 0,
                fields: fields.clone(),
            };
            t.staged.push(Staged::Insert {
                table: table.clone(),
                provisional: id.clone(),
                fields,
            });
            t.overlay.insert((table.clone(), id), Some(doc.clone()));
            Ok(doc)
        })
        .await?
    }

    /// Stages a patch (`merge`), a replacement, or (with `fields` = None) a delete of `current`.
    pub async fn stage_write(
        &self,
        scope: &TxScope,
        table: &TableName,
        current: Document,
        fields: Option<(Fields, bool)>,
    ) -> ApiResult<Option<Document>> {
        let max = self.max_ops;
        self.in_tx(scope, |t| {
            if t.staged.len() >= max {
                return Err(too_many_staged(max));
            }
            let key = (table.clone(), current.id.clone());
            let (staged, view) = match fields {
                None => (
                    Staged::Delete {
                        table: table.clone(),
                        id: current.id.clone(),
                    },
                    None,
                ),
                Some((patch, true)) => {
                    let mut doc = current.clone();
                    merge_patch(&mut doc.fields, &patch);
                    (
                        Staged::Patch {
                            table: table.clone(),
                            id: current.id.clone(),
                            patch,
                        },
                        Some(doc),
                    )
                }
                Some((fields, false)) => {
                    let mut doc = current.clone();
                    doc.fields = fields.clone();
                    (
                        Staged::Replace {
                            table: table.clone(),
                            id: current.id.clone(),
                            fields,
                        },
                        Some(doc),
                    )
                }
            };
            t.staged.push(staged);
            t.overlay.insert(key, view.clone());
            Ok(view)
        })
        .await?
    }
}

fn too_many_staged(max: usize) -> ApiError {
    ApiError::new(
        ErrorCode::TooManyOperations,
        format!("a transaction may stage at most {max} writes (GATEWAY_TX_MAX_OPS)"),
    )
}

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or_default()
}
