-- Failed logins per account and per client address, in the database so that the limit holds
-- across every instance behind a load balancer.
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);
