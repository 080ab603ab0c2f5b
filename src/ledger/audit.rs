//! The ledger's proof of health: balanced transactions, cached balances equal to their
//! postings, no shopper below zero, rebate points equal to their live lots and holds, and
//! the WeChat clearing account equal to the payments and refunds WeChat Pay settled.

use sea_orm::{ConnectionTrait, FromQueryResult, Statement};

use crate::error::AppResult;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub transactions: i64,
    pub accounts: i64,
    /// Transactions whose postings do not sum to zero in some unit.
    pub unbalanced_transactions: Vec<i64>,
    /// Accounts whose cached balance differs from the sum of their postings.
    pub balance_mismatches: Vec<i64>,
    /// Accounts that may not go below zero (shoppers', the queue pool) and did.
    pub negative_balances: Vec<i64>,
    /// Shoppers' points accounts that differ from the points left in their lots.
    pub lot_mismatches: Vec<i64>,
    /// Shoppers' held-points accounts that differ from what their open payments hold.
    pub hold_mismatches: Vec<i64>,
    /// Merchants whose WeChat clearing account differs from WeChat Pay's records as kept
    /// here: what paid payments collected less what refunds gave back.
    pub clearing_mismatches: Vec<i64>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.unbalanced_transactions.is_empty()
            && self.balance_mismatches.is_empty()
            && self.negative_balances.is_empty()
            && self.lot_mismatches.is_empty()
            && self.hold_mismatches.is_empty()
            && self.clearing_mismatches.is_empty()
    }
}

impl std::fmt::Display for AuditReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "transactions checked: {}", self.transactions)?;
        writeln!(f, "accounts checked:     {}", self.accounts)?;
        writeln!(
            f,
            "unbalanced transactions: {:?}",
            self.unbalanced_transactions
        )?;
        writeln!(f, "balance mismatches:      {:?}", self.balance_mismatches)?;
        writeln!(f, "negative balances:       {:?}", self.negative_balances)?;
        writeln!(f, "point lot mismatches:    {:?}", self.lot_mismatches)?;
        writeln!(f, "held point mismatches:   {:?}", self.hold_mismatches)?;
        write!(
            f,
            "WeChat clearing mismatches (merchants): {:?}",
            self.clearing_mismatches
        )
    }
}

#[derive(FromQueryResult)]
struct Id {
    id: i64,
}

#[derive(FromQueryResult)]
struct Count {
    n: i64,
}

async fn ids(db: &impl ConnectionTrait, sql: &str) -> AppResult<Vec<i64>> {
    let statement = Statement::from_string(db.get_database_backend(), sql.to_owned());
    Ok(Id::find_by_statement(statement)
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

async fn count(db: &impl ConnectionTrait, sql: &str) -> AppResult<i64> {
    let statement = Statement::from_string(db.get_database_backend(), sql.to_owned());
    Ok(Count::find_by_statement(statement)
        .one(db)
        .await?
        .map_or(0, |c| c.n))
}

pub async fn audit(db: &impl ConnectionTrait) -> AppResult<AuditReport> {
    Ok(AuditReport {
        transactions: count(db, "SELECT COUNT(*) AS n FROM ledger_transactions").await?,
        accounts: count(db, "SELECT COUNT(*) AS n FROM ledger_accounts").await?,
        unbalanced_transactions: ids(
            db,
            "SELECT DISTINCT transaction_id AS id FROM ledger_postings \
             GROUP BY transaction_id, unit HAVING SUM(amount) <> 0 ORDER BY 1",
        )
        .await?,
        balance_mismatches: ids(
            db,
            "SELECT a.id AS id FROM ledger_accounts a \
             LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM ledger_postings GROUP BY account_id) p \
             ON p.account_id = a.id \
             WHERE a.balance <> COALESCE(p.total, 0) ORDER BY 1",
        )
        .await?,
        negative_balances: ids(
            db,
            "SELECT id FROM ledger_accounts WHERE non_negative AND balance < 0 ORDER BY 1",
        )
        .await?,
        lot_mismatches: ids(
            db,
            "SELECT a.id AS id FROM ledger_accounts a \
             LEFT JOIN (SELECT merchant_id, user_id, SUM(remaining) AS total FROM point_lots \
                        GROUP BY merchant_id, user_id) l \
             ON l.merchant_id = a.merchant_id AND l.user_id = a.owner_id \
             WHERE a.owner_kind = 'USER' AND a.kind = 'POINTS' AND a.balance <> COALESCE(l.total, 0) \
             ORDER BY 1",
        )
        .await?,
        hold_mismatches: ids(
            db,
            "SELECT a.id AS id FROM ledger_accounts a \
             LEFT JOIN (SELECT p.merchant_id, p.user_id, SUM(h.points) AS total \
                        FROM payment_point_holds h JOIN payments p ON p.id = h.payment_id \
                        GROUP BY p.merchant_id, p.user_id) held \
             ON held.merchant_id = a.merchant_id AND held.user_id = a.owner_id \
             WHERE a.owner_kind = 'USER' AND a.kind = 'POINTS_ON_HOLD' \
               AND a.balance <> COALESCE(held.total, 0) \
             ORDER BY 1",
        )
        .await?,
        clearing_mismatches: ids(
            db,
            "SELECT m.id AS id FROM merchants m \
             LEFT JOIN (SELECT merchant_id, SUM(cash_amount) AS total FROM payments \
                        WHERE status = 'PAID' GROUP BY merchant_id) paid ON paid.merchant_id = m.id \
             LEFT JOIN (SELECT merchant_id, SUM(amount) AS total FROM refunds \
                        WHERE status = 'SUCCESS' GROUP BY merchant_id) back ON back.merchant_id = m.id \
             LEFT JOIN ledger_accounts a ON a.merchant_id = m.id AND a.owner_kind = 'MERCHANT' \
                        AND a.kind = 'WECHAT_CLEARING' \
             WHERE COALESCE(a.balance, 0) <> COALESCE(paid.total, 0) - COALESCE(back.total, 0) \
             ORDER BY 1",
        )
        .await?,
    })
}
