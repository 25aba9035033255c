-- The fleet's showback (issue 16, `GET /v1/showback?period=YYYY-MM`): the documents of the billing
-- periods that start in a month, across every tenant. The other indexes of invoices lead with the
-- tenant, the issue time, the id or the number; this one reads a month's documents, by currency,
-- without the rest of the fleet's history.
CREATE INDEX invoices_period ON tenantry.invoices (period_start, currency);
