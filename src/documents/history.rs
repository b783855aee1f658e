//! Document history as the caller may see it: the versions a table with `history = true` kept,
//! newest first, under the same read access and row ownership as the document; and revert,
//! which writes an earlier version's fields back as a new version (a write, with `If-Match`),
//! or brings a deleted document back as a new document.

use super::{Documents, Done, not_found};
use crate::auth::policy::TableAction;
use crate::auth::{Owner, visible};
use crate::context::RequestCtx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{
    Document, HistoryEntry, HistoryPage, Precondition, TableName, WriteOp, WriteOutcome,
};
use crate::writes::Written;

/// The most versions one page lists.
pub const MAX_HISTORY_PAGE: usize = 1000;

/// What a revert did: updated the document, or (it had been deleted) made a new one.
pub enum Reverted {
    Updated(Document),
    Restored(Document),
}

impl Documents {
    /// The table, after checking the caller may `action` it and that it keeps history.
    fn history_table(
        &self,
        ctx: &RequestCtx,
        table: &str,
        action: TableAction,
    ) -> ApiResult<(TableName, Option<Owner>)> {
        let (table, owner) = self.authorize(ctx, table, action)?;
        if !self.auth.policy().keeps_history(table.as_str()) {
            return Err(ApiError::new(
                ErrorCode::HistoryNotKept,
                format!(
                    "table `{table}` keeps no history; set `history = true` under [tables.{table}] in the policy"
                ),
            ));
        }
        Ok((table, owner))
    }

    /// A page of the history of `table`/`id`, newest first: versions below `cursor` (a version
    /// number from `nextCursor`), at most `limit` (1 to 1000).
    pub async fn history(
        &self,
        ctx: &RequestCtx,
        table: &str,
        id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> ApiResult<HistoryPage> {
        let (table, owner) = self.history_table(ctx, table, TableAction::Read)?;
        if !(1..=MAX_HISTORY_PAGE).contains(&limit) {
            return Err(ApiError::new(
                ErrorCode::InvalidLimit,
                "limit must be from 1 to 1000",
            ));
        }
        let before = cursor
            .map(|c| {
                c.parse::<u64>().map_err(|_| {
                    ApiError::new(
                        ErrorCode::InvalidCursor,
                        "the cursor is a version number from nextCursor",
                    )
                })
            })
            .transpose()?;
        if let Some(owner) = &owner {
            self.owned_history(ctx, &table, id, owner).await?;
        }
        let page = self
            .store
            .history(&ctx.store, &table, id, before, limit)
            .await?;
        if page.items.is_empty() && before.is_none() {
            return Err(not_found(&table, id));
        }
        Ok(page)
    }

    /// Under row ownership: the document's newest version with fields must be the caller's.
    async fn owned_history(
        &self,
        ctx: &RequestCtx,
        table: &TableName,
        id: &str,
        owner: &Owner,
    ) -> ApiResult<()> {
        let latest = self.store.history(&ctx.store, table, id, None, 2).await?;
        let fields = latest.items.iter().find_map(|e| e.fields.as_ref());
        match fields {
            Some(fields) if visible(Some(owner), fields) => Ok(()),
            _ => Err(not_found(table, id)),
        }
    }

    /// Writes version `version` of `table`/`id` back as a new version, under `precondition`
    /// (`If-Match`). A deleted document comes back as a new document (a new `_id`).
    pub async fn revert(
        &self,
        ctx: &RequestCtx,
        table: &str,
        id: &str,
        version: u64,
        precondition: Option<Precondition>,
    ) -> ApiResult<Done<Reverted>> {
        let (table, owner) = self.history_table(ctx, table, TableAction::Write)?;
        if ctx.tx.is_some() {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "a revert cannot be staged in an interactive transaction; send it without X-Transaction-Id",
            ));
        }
        if let Some(owner) = &owner {
            self.owned_history(ctx, &table, id, owner).await?;
        }
        let entry = self.version(ctx, &table, id, version).await?;
        let Some(mut fields) = entry.fields else {
            return Err(ApiError::new(
                ErrorCode::VersionNotFound,
                format!(
                    "version {version} of `{id}` is its deletion; revert to a version before it"
                ),
            ));
        };
        if let Some(owner) = &owner {
            owner.claim(&mut fields, true)?;
        }
        let current = self.store.get(&ctx.store, &table, id).await?;
        let op = match &current {
            Some(doc) => {
                if let Some(p) = &precondition
                    && !p.holds_for(doc.version)
                {
                    return Err(ApiError::new(
                        ErrorCode::VersionMismatch,
                        format!("document `{id}` is at version {}", doc.version),
                    ));
                }
                WriteOp::Replace {
                    table: table.clone(),
                    id: id.into(),
                    fields,
                    // The version read is the version written over.
                    precondition: Some(Precondition::VersionIn(vec![doc.version])),
                }
            }
            None if precondition.is_some() => {
                return Err(ApiError::new(
                    ErrorCode::VersionMismatch,
                    format!("document `{id}` was deleted; If-Match cannot hold"),
                ));
            }
            None => WriteOp::Insert {
                table: table.clone(),
                fields,
            },
        };
        let mut ctx = ctx.clone();
        if let Some(scope) = ctx.store.history.as_mut() {
            scope.revert = true;
        }
        match self.writes.write(&ctx, vec![op]).await? {
            Written::Queued(receipt) => Ok(Done::Queued(receipt)),
            Written::Applied(mut outcomes) => match outcomes.pop() {
                Some(WriteOutcome::Updated(doc)) => Ok(Done::Applied(Reverted::Updated(doc))),
                Some(WriteOutcome::Inserted(doc)) => Ok(Done::Applied(Reverted::Restored(doc))),
                _ => Err(not_found(&table, id)),
            },
        }
    }

    /// One version from the history, or `version_not_found`.
    async fn version(
        &self,
        ctx: &RequestCtx,
        table: &TableName,
        id: &str,
        version: u64,
    ) -> ApiResult<HistoryEntry> {
        let page = self
            .store
            .history(&ctx.store, table, id, version.checked_add(1), 1)
            .await?;
        page.items
            .into_iter()
            .find(|e| e.version == version)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::VersionNotFound,
                    format!("the history of `{id}` in `{table}` has no version {version}"),
                )
            })
    }
}
