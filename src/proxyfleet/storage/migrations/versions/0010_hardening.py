"""hardening

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 08:30:00

- Leases remember the Idempotency-Key of the acquire that made them (unique per user) and the
  balance it left, so a retried acquire is answered as the first was and charged once.
- Proxy passwords are stored sealed (storage/sealing.py): the column widens to hold a token,
  and every password stored in plain text before is sealed here, with the box that
  `storage.migrate.upgrade` is given (the secret key's). Downgrading opens them again.
- Sources remember the latest cron slot a scheduled scrape started for, so a re-delivered
  scrape task does nothing.
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import context, op

import proxyfleet.storage.types
from proxyfleet.storage.sealing import SecretBox

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_proxies = sa.table('proxies', sa.column('id', sa.Uuid()), sa.column('password', sa.String()))
_PARTIAL = {'sqlite_where': sa.text('idempotency_key IS NOT NULL'),
            'postgresql_where': sa.text('idempotency_key IS NOT NULL')}


def _rewrite_passwords(change: Callable[[SecretBox, str], str],
                       wanted: Callable[[str], bool]) -> None:
    """Rewrite each stored password that `wanted` picks with `change`, needing the box."""
    bind = op.get_bind()
    rows = bind.execute(sa.select(_proxies.c.id, _proxies.c.password)
                        .where(_proxies.c.password.is_not(None))).all()
    picked = [(proxy_id, password) for proxy_id, password in rows if wanted(password)]
    if not picked:
        return
    box = context.config.attributes.get('box')
    if box is None:
        raise RuntimeError('proxy passwords need the secret key to be sealed or opened: '
                           'migrate through `proxyfleet db upgrade` or `serve`')
    update = (_proxies.update().where(_proxies.c.id == sa.bindparam('row_id'))
              .values(password=sa.bindparam('sealed')))
    bind.execute(update, [{'row_id': proxy_id, 'sealed': change(box, password)}
                          for proxy_id, password in picked])


def upgrade() -> None:
    with op.batch_alter_table('leases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('balance_after', sa.BigInteger(), nullable=True))
        batch_op.create_index('uq_leases_idempotency_key', ['user_id', 'idempotency_key'],
                              unique=True, **_PARTIAL)
    with op.batch_alter_table('proxies', schema=None) as batch_op:
        batch_op.alter_column('password', existing_type=sa.String(length=255),
                              type_=sa.String(length=512), existing_nullable=True)
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_run_slot',
                                      proxyfleet.storage.types.UTCDateTime(timezone=True),
                                      nullable=True))
    _rewrite_passwords(lambda box, plain: box.seal(plain),
                       lambda stored: not SecretBox.looks_sealed(stored))


def downgrade() -> None:
    _rewrite_passwords(lambda box, token: box.open(token), SecretBox.looks_sealed)
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_column('last_run_slot')
    with op.batch_alter_table('proxies', schema=None) as batch_op:
        batch_op.alter_column('password', existing_type=sa.String(length=512),
                              type_=sa.String(length=255), existing_nullable=True)
    with op.batch_alter_table('leases', schema=None) as batch_op:
        batch_op.drop_index('uq_leases_idempotency_key', **_PARTIAL)
        batch_op.drop_column('balance_after')
        batch_op.drop_column('idempotency_key')
