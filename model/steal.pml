/*
 * Lis lease steal, one block: a Promela model of docs/PROTOCOL.md as built
 * (LisCore/Protocol/NodeCore+Steal.swift, NodeCore+Serve.swift, LisSim/SimStorage.swift).
 * model/README.md says what is modelled, what is abstracted and why; scripts/spin-check.sh runs it.
 *
 * Topology (cpp macros: spin -a -D...):
 *   default    2 regions x 1 node (nodes 0,1; home node 0): Q2 = the holder itself
 *   CFG_C      3 regions x 1 node (nodes 0,1,2)
 *   CFG_R3     1 region  x 3 nodes (Q2 = 2 of 3); steals inside the region (requestSteal)
 *   CFG_B      region 0 = nodes 0,1,2 (Q2 = 2 of 3), region 1 = node 3
 * Faults:
 *   default    lossy links: any message may be dropped; per-link FIFO, reordering across
 *              links; fence / transfer request / install resent on a timer
 *   NOLOSS     no message is lost (a full link is an error: raise QS)
 *   LOSE_ACCEPTS  with NOLOSS: only `accept` messages may be lost
 *   CRASH      MAXCRASH crash+restart of any node (volatile writes and state lost,
 *              promises and synced writes kept)
 * Flush:       FLUSH = one client FLUSH, decided by the holder's watermark (needs CRASH for
 *              durability to matter)
 * Hand-over:   HOLDER_CLAIMS = a holder may also claim the block at Hive for another node
 *              (handOver / handOverClaimed): it promises the claim, sends its log after the
 *              copy it believes the target has, and stops holding; the target adopts the
 *              claim (from the watch or the message) and installs that log (onHandOver,
 *              adoptClaim, fenceComplete(holderLog:))
 * Policy:      POLICY_GUARD = a node steals only from a holder in another region
 *              (considerSteal); default = any node that neither holds nor steals (requestSteal)
 *              STEAL_RENEW = only a restarted holder steals, from itself (its renewal; with
 *              FIX_RESTART)
 *              ONE_STEALER = only the last node steals (with HOLDER_CLAIMS: a steal, then
 *              the holder hands the block on)
 * Start:       START_HELD = the last node holds epoch 1 when the search starts (with
 *              HOLDER_CLAIMS: the hand-overs from there, without the steal before them)
 * Bounds:      W client writes, MAXORD orderings, MAXSTEAL Hive claims, QS link capacity
 * Mutants:     MUTANT_NO_FENCE, MUTANT_ACCEPT_STALE_EPOCH, MUTANT_ACK_BEFORE_QUORUM,
 *              MUTANT_SKIP_TRANSFER, MUTANT_FLUSH_COUNTS_ANY_SYNC (with FLUSH),
 *              MUTANT_HANDOVER_SERVES_ON, MUTANT_HANDOVER_IGNORES_FIT (with HOLDER_CLAIMS)
 * Proposed fixes for the two findings (README): FIX_RESTART, FIX_GAPS, FIX_PREV_POSITION
 */

/* ---------------------------------------------------------------- configuration */
#if defined(CFG_C)
#define N 3
#define REG(n) (n)
#define HOME(r) (r)
#define SZ(r) 1
#define NREG 3
#elif defined(CFG_R3)
#define N 3
#define REG(n) 0
#define HOME(r) 0
#define SZ(r) 3
#define NREG 1
#elif defined(CFG_B)
#define N 4
#define REG(n) ((n) == 3 -> 1 : 0)
#define HOME(r) ((r) == 0 -> 0 : 3)
#define SZ(r) ((r) == 0 -> 3 : 1)
#define NREG 2
#else
#define N 2
#define REG(n) (n)
#define HOME(r) (r)
#define SZ(r) 1
#define NREG 2
#endif
#define MAJ(r) (SZ(r) / 2 + 1)
#define HOMENODE 0          /* the volume's home node: holds the block at epoch 0 */

#ifndef W
#define W 2                 /* client writes, values 1..W */
#endif
#ifndef MAXORD
#define MAXORD W            /* orderings by holders in total (a redispatched write is ordered again) */
#endif
#ifndef MAXSTEAL
#define MAXSTEAL 2          /* Hive claims in total (successful or refused) */
#endif
#ifndef MAXCRASH
#define MAXCRASH 1
#endif
#ifndef QS
#define QS 2                /* capacity of each directed link */
#endif
#define MAXV 4              /* versions 1..4 fit a log */
#ifdef START_HELD
#define MAXEP (MAXSTEAL + 1)        /* the newest epoch a claim can take */
#else
#define MAXEP MAXSTEAL
#endif
#define MAXH (2 * MAXEP + 1)

/* positions and log entries packed in a byte: epoch*8 + version / epoch*8 + value */
#define PE(p) ((p) / 8)
#define PV(p) ((p) % 8)
#define POS(e, v) ((e) * 8 + (v))
#define BIT(n) (1 << (n))

/* steal phases */
#define P_NONE 0
#define P_CLAIM 1
#define P_FENCE 2
#define P_XFER 3
#define P_INST 4
#define P_ACT 5
/* Hive record states */
#define STEALING 1
#define ACTIVE 2
/* Hive answers waiting for a node */
#define R_CLAIM_OK 1
#define R_CLAIM_FAIL 2
#define R_ACT_OK 3
#define R_ACT_FAIL 4
#define R_HO_OK 5           /* a holder's claim for another node (HOLDER_CLAIMS) */
#define R_HO_FAIL 6

mtype = { FENCE, FENCED, TREQ, TREP, INSTALL, INSTALLED, ACCEPT, ACCEPTED, REPL, SYNCREQ, SYNCED, HANDOVER };

/* ---------------------------------------------------------------- state */
typedef Log { byte v[MAXV + 1] }   /* v[version] = epoch*8 + value, 0 = absent */

/* per node: storage */
Log lg[N];                /* the node's copy (SimStorage log), including unsynced entries */
Log dl[N];                /* what survives a crash: the copy as of the last WAL sync */
byte pos[N], dpos[N];     /* core position (epoch,version); the position recovered after a crash */
bool dirty[N];            /* unsynced writes exist */
byte prom[N], dprom[N];   /* promised epoch: in memory / durable (persistPromise) */
/* per node: core */
bool hold[N];             /* holding (serves while he == prom) */
byte he[N];               /* holding epoch */
bool held[N];             /* lastHeld != nil (volatile) */
byte rt[N];               /* route: index of the newest Hive record learned, 0 = none */
byte wi[N];               /* next Hive history index the watch delivers */
byte hr[N];               /* a Hive answer on its way to the node */
/* per node: the steal in progress */
byte ph[N], ce[N], cidx[N], laH[N];   /* phase, claim epoch, claim record, last active holder */
byte ftal[N];                         /* fence tally (bit per node) */
byte rep[N * N];                      /* fence replies: position, by stealer*N + node */
bool tw[N]; byte twh[N], tup[N];      /* transfer received in a fenced reply: kind, upTo */
Log tl[N];                            /* ... and its entries */
byte best[N], src[N], ital[N];        /* best position, transfer source, install tally */
byte csp[N];                          /* the claim's stealer position: a transfer sent ahead fits only that copy */
bool adf[N];                          /* an adopted claim, not fenced yet: the resend timer fences it */
#ifdef HOLDER_CLAIMS
byte hoi[N], hoe[N];                  /* a holder's claim for another node: its record index, the term it hands over */
#endif

/* Hive: a linearizable record; every successful CAS appends the new record */
byte hlen;                                          /* current record = history[hlen]; 0 = absent */
byte hE[MAXH], hH[MAXH], hS[MAXH], hLaH[MAXH], hSp[MAXH];  /* epoch, holder, state, last active holder, stealer position */
byte hC[MAXH];                                      /* the node whose CAS wrote it: its own watch skips it */

/* links: one FIFO channel per ordered pair of nodes */
chan ch[N * N] = [QS] of { mtype, byte, byte, byte, byte, byte, byte, byte, byte };

/* clients and ghosts */
bool issued[W + 1], acked[W + 1], flushed[W + 1], excused[W + 1];
byte ackE[W + 1], ackH[W + 1];
byte wh[W + 1], wpos[W + 1], wtal[W + 1];   /* pending at holder wh-1 at position wpos, accepted by wtal */
byte nord, nsteal, ncrash;
bool crashed[N];          /* FIX_RESTART: a restarted node never resumes a term */
#ifdef CRASH
byte lostBy[W + 1];       /* Q2 members whose volatile copy of the pending write a crash took */
#endif
byte holderOf[MAXEP + 1];                 /* node+1 that became holder of each epoch */
#ifdef FLUSH
/* one client FLUSH (NodeCore+Flush.swift): it names the writes acknowledged before it */
byte ackV[W + 1];         /* the version each write was acknowledged at (with ackE: its position) */
byte fst;                 /* 0 not issued, 1 waiting, 2 returned (durable), 3 failed (lost) */
byte fcov, fpend;         /* the writes it covers; those without a verdict yet (bit per write) */
bool flost;               /* some write was answered lost */
byte fco;                 /* the holder deciding it, node+1; 0 = on its way to the next holder */
byte fmax;                /* the newest epoch of its writes: an older holder would redirect it */
bool pflushed[W + 1];     /* vouched for by a FLUSH that returned */
/* holder: the term's start position; the version its watermark starts from (a steal's
   install is synced on a majority: its position; a lazy take-up: 0); and per Q2 member the
   highest version of the holder's epoch it reported synced (syn[holder * N + member]) */
byte tstart[N], tdur[N];
byte syn[N * N];
bool fown[N];             /* the holder's own sync for the flush is under way */
#endif

/* scratch (not part of the state: always written before read inside one d_step) */
hidden mtype m_t;
hidden byte m_ep, m_a, m_b, m_c;
hidden byte pl[MAXV + 1];
hidden byte ci, ccnt, xi, xanch, xw, ai, afirst, si, sw, hi, cw, k, mw, mk, mcnt, fk, bk, bst, bsrc;
hidden byte np, tal, hk, ik, old, lw, e1, la, wasH, hb;
hidden byte ok, found, found2;
#ifdef FLUSH
hidden byte fw, fv, fm, fc, wm, fin;
#endif
/* named invariants (their names appear in SPIN's "assertion violated" line) */
hidden byte one_holder_per_epoch, accept_not_below_promise, acked_write_at_later_holder,
            flushed_write_at_later_holder, protocol_flushed_write_at_later_holder;

/* ---------------------------------------------------------------- helpers */
/* is a majority of region r in mask? -> res */
inline COMPLETE(mask, r, res) {
  ccnt = 0; ci = 0;
  do
  :: ci < N -> if :: REG(ci) == r && (mask & BIT(ci)) -> ccnt++ :: else -> skip fi; ci++
  :: else -> break
  od;
  res = (ccnt >= MAJ(r))
}

/* does log L hold a write with value w (at any version)? -> res */
inline HAS(L, w, res) {
  res = 0; hi = 1;
  do
  :: hi <= MAXV -> if :: L.v[hi] != 0 && L.v[hi] % 8 == w -> res = 1 :: else -> skip fi; hi++
  :: else -> break
  od
}

/* SimStorage.write: entries at or after the version are dropped, then the write appended */
inline STORE(n, p, w) {
  assert(PV(p) >= 1 && PV(p) <= MAXV);
  si = PV(p);
  do :: si <= MAXV -> lg[n].v[si] = 0; si++ :: else -> break od;
  lg[n].v[PV(p)] = POS(PE(p), w);
#ifdef CRASH
  dirty[n] = 1
#else
  skip
#endif
}

/* SimStorage.export(after, upTo) into pl[], kind into xw (1 suffix, 2 whole block) */
inline EXPORT(n, after, upTo) {
  xanch = (after == 0 || (lg[n].v[PV(after)] != 0 && PE(lg[n].v[PV(after)]) == PE(after)));
  xi = 1;
  do
  :: xi <= MAXV ->
     if :: xi <= PV(upTo) && (!xanch || xi > PV(after)) -> pl[xi] = lg[n].v[xi]
        :: else -> pl[xi] = 0 fi;
     xi++
  :: else -> break
  od;
  xw = (xanch -> 1 : 2)
}

/* SimStorage.install of pl[]: a whole copy replaces the log, a suffix replaces from its first entry */
inline APPLY(n, kind) {
  if
  :: kind == 2 -> ai = 1; do :: ai <= MAXV -> lg[n].v[ai] = pl[ai]; ai++ :: else -> break od
  :: kind == 1 ->
     afirst = 0; ai = MAXV;
     do :: ai >= 1 -> if :: pl[ai] != 0 -> afirst = ai :: else -> skip fi; ai-- :: else -> break od;
     if
     :: afirst != 0 -> ai = afirst; do :: ai <= MAXV -> lg[n].v[ai] = pl[ai]; ai++ :: else -> break od
     :: else -> skip
     fi
  :: else -> skip
  fi
}

/* a write acknowledged with its Q2 durable on a majority is flushed (a FLUSH would return) */
inline MARK_FLUSHED() {
  mw = 1;
  do
  :: mw <= W ->
     if
     :: acked[mw] && !flushed[mw] ->
        mcnt = 0; mk = 0;
        do
        :: mk < N ->
           if :: REG(mk) == REG(ackH[mw]) -> HAS(dl[mk], mw, found2); if :: found2 -> mcnt++ :: else -> skip fi
              :: else -> skip fi;
           mk++
        :: else -> break
        od;
        if :: mcnt >= MAJ(REG(ackH[mw])) -> flushed[mw] = 1 :: else -> skip fi
     :: else -> skip
     fi;
     mw++
  :: else -> break
  od
}

/* the WAL is synced: everything stored so far survives a crash */
inline SYNC(n) {
#ifdef CRASH
  si = 1; do :: si <= MAXV -> dl[n].v[si] = lg[n].v[si]; si++ :: else -> break od;
  dpos[n] = pos[n]; dirty[n] = 0;
  printf("MSC: node %d syncs: durable log [%d %d %d %d]\n", n, dl[n].v[1], dl[n].v[2], dl[n].v[3], dl[n].v[4]);
  MARK_FLUSHED()
#else
  skip   /* without crashes durability is invisible: not tracked */
#endif
}

/* send on link f->t; a full link drops the message (a loss), which NOLOSS forbids */
inline SEND(sf_, st_, sT_, sEP_, sA_, sB_, sC_) {
  if
  :: nfull(ch[(sf_) * N + (st_)]) -> ch[(sf_) * N + (st_)]!sT_, sEP_, sA_, sB_, sC_, pl[1], pl[2], pl[3], pl[4]
  :: full(ch[(sf_) * N + (st_)]) ->
#ifdef NOLOSS
     assert(nfull(ch[(sf_) * N + (st_)]))   /* QS too small for NOLOSS */
#else
     skip
#endif
  fi
}
inline SEND0(zf_, zt_, zT_, zEP_, zA_, zB_, zC_) {
  pl[1] = 0; pl[2] = 0; pl[3] = 0; pl[4] = 0;
  SEND(zf_, zt_, zT_, zEP_, zA_, zB_, zC_)
}

inline RESET_STEAL(s) {
  ph[s] = P_NONE; ce[s] = 0; cidx[s] = 0; laH[s] = 0; ftal[s] = 0;
  bk = 0; do :: bk < N -> rep[(s) * N + bk] = 0; bk++ :: else -> break od;
  tw[s] = 0; twh[s] = 0; tup[s] = 0;
  bk = 1; do :: bk <= MAXV -> tl[s].v[bk] = 0; bk++ :: else -> break od;
  best[s] = 0; src[s] = 0; ital[s] = 0; csp[s] = 0; adf[s] = 0
}

/* stopHolding: pending writes go back to their clients, which send them again */
inline STOP_HOLDING(n) {
  hold[n] = 0; he[n] = 0;
#ifdef FLUSH
  /* a holder that no longer holds the block redirects the flush to the newer holder */
  fown[n] = 0;
  if :: fco == (n) + 1 -> fco = 0 :: else -> skip fi;
#endif
  sw = 1;
  do :: sw <= W -> if :: wh[sw] == (n) + 1 -> wh[sw] = 0; wpos[sw] = 0; wtal[sw] = 0;
#ifdef CRASH
                                                lostBy[sw] = 0
#else
                                                skip
#endif
                       :: else -> skip fi; sw++
     :: else -> break od
}

/* a node becomes the active holder of epoch e (finishSteal, lazy home take-up, resume after restart) */
inline BECOME_HOLDER(n, e) {
  one_holder_per_epoch = (holderOf[e] == 0 || holderOf[e] == (n) + 1);
  assert(one_holder_per_epoch);
  holderOf[e] = (n) + 1;
  hold[n] = 1; he[n] = e; held[n] = 1;
  printf("MSC: node %d holds epoch %d, log [%d %d %d %d]\n", n, e, lg[n].v[1], lg[n].v[2], lg[n].v[3], lg[n].v[4]);
#ifdef FLUSH
  /* the term starts from its position; the watermark from 0 (finishSteal raises it to the
     install); no member has reported a sync of this epoch yet */
  tstart[n] = pos[n]; tdur[n] = 0;
  bk = 0; do :: bk < N -> syn[(n) * N + bk] = 0; bk++ :: else -> break od;
#endif
  cw = 1;
  do
  :: cw <= W ->
     HAS(lg[n], cw, found);
     /* writes acknowledged at this epoch or an older one (not by a newer holder) */
     flushed_write_at_later_holder = (!flushed[cw] || ackE[cw] > e || found);
     assert(flushed_write_at_later_holder);
     acked_write_at_later_holder = (!acked[cw] || ackE[cw] > e || excused[cw] || found);
     assert(acked_write_at_later_holder);
#ifdef FLUSH
     /* never excused: the FLUSH said durable */
     protocol_flushed_write_at_later_holder = (!pflushed[cw] || ackE[cw] > e || found);
     assert(protocol_flushed_write_at_later_holder);
#endif
     cw++
  :: else -> break
  od
}

/* commit: acknowledge, and stream to the home node of the other region */
inline COMMIT(h, w, p) {
#ifdef CRASH
  /* the ack counted a copy that a crash has taken since: the write was never durable there */
  if :: (wtal[w] & lostBy[w]) != 0 -> excused[w] = 1 :: else -> skip fi;
  lostBy[w] = 0;
#endif
  acked[w] = 1; ackE[w] = he[h]; ackH[w] = h; wh[w] = 0; wpos[w] = 0; wtal[w] = 0;
#ifdef FLUSH
  ackV[w] = PV(p);
#endif
  printf("MSC: node %d acks write %d at epoch %d version %d\n", h, w, PE(p), PV(p));
  k = 0;
  do
  :: k < N ->
     if
     :: hold[k] && he[k] > ackE[w] ->
        HAS(lg[k], w, found);
        acked_write_at_later_holder = (found || excused[w]);
        assert(acked_write_at_later_holder)
     :: else -> skip
     fi;
     k++
  :: else -> break
  od;
#ifdef CRASH
  MARK_FLUSHED();
#endif
  k = 0;
  do :: k < NREG -> if :: k != REG(h) -> SEND0(h, HOME(k), REPL, 0, p, w, 0) :: else -> skip fi; k++
     :: else -> break od
}

inline HOLDER_WRITE(h, w) {
#ifdef FIX_PREV_POSITION
  tal = pos[h];   /* the accept carries the holder's previous position */
#endif
  np = POS(he[h], PV(pos[h]) + 1);
  pos[h] = np; STORE(h, np, w);
  printf("MSC: node %d orders write %d at epoch %d version %d (in memory)\n", h, w, PE(np), PV(np));
  nord++; issued[w] = 1;
#ifdef FIX_GAPS
  /* the accept names the previous entry (Raft's log matching): c = its epoch + 1, 0 = none */
  tal = (PV(np) == 1 -> 0 : (lg[h].v[PV(np) - 1] == 0 -> 255 : PE(lg[h].v[PV(np) - 1]) + 1));
#elif !defined(FIX_PREV_POSITION)
  tal = 0;
#endif
  hk = 0;
  do :: hk < N -> if :: hk != h && REG(hk) == REG(h) -> SEND0(h, hk, ACCEPT, 0, np, w, tal) :: else -> skip fi; hk++
     :: else -> break od;
  tal = BIT(h);
  COMPLETE(tal, REG(h), ok);
#ifdef MUTANT_ACK_BEFORE_QUORUM
  ok = 1;
#endif
  if
  :: ok -> COMMIT(h, w, np)
  :: else -> wh[w] = (h) + 1; wpos[w] = np; wtal[w] = tal
  fi
}

/* the fenced side: promise, stop serving, report the position (+ transfer if it held before) */
inline ON_FENCE(n, from, e, have) {
  if
  :: e < prom[n] -> SEND0(n, from, FENCED, e, pos[n], prom[n], 0)
  :: else ->
     wasH = hold[n]; hb = held[n];
     printf("MSC: node %d fenced for epoch %d by node %d (position e%d v%d)\n", n, e, from, PE(pos[n]), PV(pos[n]));
     if :: e > prom[n] -> prom[n] = e; dprom[n] = e; SYNC(n) :: else -> skip fi;
#ifndef MUTANT_NO_FENCE
     if :: wasH -> STOP_HOLDING(n) :: else -> skip fi;
#endif
     if
     :: hb && pos[n] > have -> EXPORT(n, have, pos[n]); SEND(n, from, FENCED, e, pos[n], 0, xw)
     :: else -> SEND0(n, from, FENCED, e, pos[n], 0, 0)
     fi
  fi
}

/* adoptClaim: a claim naming this node that it never promised (a holder claimed the block
   for it, or Hive's answer to its own claim was lost) is its to finish: promise it, and fence
   the last active term at the next resend unless its acceptors answer the watch first */
inline ADOPT(n, idx) {
  prom[n] = hE[idx]; dprom[n] = hE[idx]; SYNC(n);
  ph[n] = P_FENCE; ce[n] = hE[idx]; cidx[n] = idx; laH[n] = hLaH[idx]; csp[n] = hSp[idx]; adf[n] = 1;
  printf("MSC: node %d adopts the claim of epoch %d (last active holder %d)\n", n, hE[idx], hLaH[idx])
}

/* learn a Hive record (an answer, the watch, or the records read at start) */
inline LEARN(n, idx) {
  old = rt[n];
  if
  :: old == 0 || hE[idx] > hE[old] || (hE[idx] == hE[old] && hS[idx] == ACTIVE) ->
     rt[n] = idx;
#ifndef MUTANT_NO_FENCE
     if :: hold[n] && hS[idx] == ACTIVE && he[n] < hE[idx] && hH[idx] != n -> STOP_HOLDING(n)
        :: else -> skip fi;
#endif
     /* someone took over this node's claim: its steal can no longer finish */
     if :: ph[n] != P_NONE && hE[idx] > ce[n] -> RESET_STEAL(n) :: else -> skip fi;
     /* fencing through Hive's watch: an acceptor of the last active term sees the claim */
     if :: hS[idx] == STEALING && hH[idx] != n && hE[idx] > prom[n] && REG(n) == REG(hLaH[idx]) ->
           ON_FENCE(n, hH[idx], hE[idx], hSp[idx])
        :: else -> skip fi;
     if :: hS[idx] == STEALING && hH[idx] == n && hE[idx] > prom[n] && !hold[n] && ph[n] == P_NONE -> ADOPT(n, idx)
        :: else -> skip fi
  :: else -> skip
  fi
}

inline ACTIVATE(s) {
  ph[s] = P_ACT;
  if
  :: hlen == cidx[s] ->       /* CAS stealing -> active */
     hlen++; hE[hlen] = ce[s]; hH[hlen] = s; hS[hlen] = ACTIVE; hLaH[hlen] = s; hSp[hlen] = 0; hC[hlen] = s;
     printf("MSC: Hive: epoch %d active at node %d\n", ce[s], s);
     hr[s] = R_ACT_OK
  :: else -> hr[s] = R_ACT_FAIL
  fi
}

/* make the transfer (pl[], kind) durable here, then send it to the rest of the new Q2 */
inline DO_INSTALL(s, kind, upTo) {
  APPLY(s, kind);
  printf("MSC: node %d installs up to e%d v%d (transfer kind %d): log [%d %d %d %d]\n", s, PE(upTo), PV(upTo), kind, lg[s].v[1], lg[s].v[2], lg[s].v[3], lg[s].v[4]);
  pos[s] = upTo; SYNC(s);
  ital[s] = BIT(s); ph[s] = P_INST;
  EXPORT(s, 0, upTo);
  ik = 0;
  do :: ik < N -> if :: ik != s && REG(ik) == REG(s) -> SEND(s, ik, INSTALL, ce[s], upTo, xw, 0) :: else -> skip fi; ik++
     :: else -> break od;
  COMPLETE(ital[s], REG(s), ok);
  if :: ok -> ACTIVATE(s) :: else -> skip fi
}

inline FENCE_COMPLETE(s) {
  bst = 0; bk = 0;
  do :: bk < N -> if :: (ftal[s] & BIT(bk)) && rep[(s) * N + bk] > bst -> bst = rep[(s) * N + bk] :: else -> skip fi; bk++
     :: else -> break od;
  best[s] = bst;
#ifdef MUTANT_SKIP_TRANSFER
  DO_INSTALL(s, 0, bst)
#else
  /* a transfer sent ahead is the sender's log after the copy the claim names (or its whole
     log): it fits only a copy that is still there */
#ifdef MUTANT_HANDOVER_IGNORES_FIT
  ok = 1;
#else
  ok = (csp[s] == 0 || csp[s] == pos[s]);
#endif
  if
  :: pos[s] == bst -> DO_INSTALL(s, 0, bst)
  :: pos[s] != bst && tw[s] && tup[s] == bst && ok ->
     bk = 1; do :: bk <= MAXV -> pl[bk] = tl[s].v[bk]; bk++ :: else -> break od;
     DO_INSTALL(s, twh[s], bst)
  :: else ->    /* pull from the nearest other node at the best position: same RTT here, lowest id */
     bsrc = 255; bk = N;
     do :: bk > 0 -> bk--; if :: bk != s && (ftal[s] & BIT(bk)) && rep[(s) * N + bk] == bst -> bsrc = bk :: else -> skip fi
        :: else -> break od;
     if
     :: bsrc == 255 ->    /* only this node reported the best position, and its copy moved since */
        printf("MSC: node %d abandons its steal: its copy changed\n", s);
        RESET_STEAL(s)
     :: else ->
        ph[s] = P_XFER; src[s] = bsrc;
        printf("MSC: node %d asks node %d for a transfer after e%d v%d up to e%d v%d\n", s, bsrc, PE(pos[s]), PV(pos[s]), PE(bst), PV(bst));
        SEND0(s, bsrc, TREQ, ce[s], pos[s], bst, 0)
     fi
  fi
#endif
}

/* the stealer's fence: promise its own claim, ask the last active Q2 */
inline DO_FENCE(s) {
  if :: prom[s] < ce[s] -> prom[s] = ce[s]; dprom[s] = ce[s]; SYNC(s) :: else -> skip fi;
  if :: REG(s) == REG(laH[s]) -> ftal[s] = ftal[s] | BIT(s); rep[(s) * N + (s)] = pos[s] :: else -> skip fi;
  fk = 0;
  do :: fk < N -> if :: fk != s && REG(fk) == REG(laH[s]) && !(ftal[s] & BIT(fk)) -> SEND0(s, fk, FENCE, ce[s], pos[s], 0, 0)
                    :: else -> skip fi; fk++
     :: else -> break od;
  COMPLETE(ftal[s], REG(laH[s]), ok);
  if :: ok -> FENCE_COMPLETE(s) :: else -> skip fi
}

inline ON_FENCED(s, from, e, p, refused, kind) {
  if
  :: (ph[s] == P_CLAIM || ph[s] == P_FENCE) && ce[s] == e ->
     if
     :: refused != 0 -> RESET_STEAL(s)                    /* abandon */
     :: else ->
        rep[(s) * N + (from)] = p;
        if :: kind != 0 && p > (tw[s] -> tup[s] : 0) ->
              tw[s] = 1; twh[s] = kind; tup[s] = p;
              bk = 1; do :: bk <= MAXV -> tl[s].v[bk] = pl[bk]; bk++ :: else -> break od
           :: else -> skip fi;
        ftal[s] = ftal[s] | BIT(from);
        if :: ph[s] == P_FENCE -> COMPLETE(ftal[s], REG(laH[s]), ok); if :: ok -> FENCE_COMPLETE(s) :: else -> skip fi
           :: else -> skip fi
     fi
  :: else -> skip
  fi
}

inline ON_ACCEPT(n, from, p, w, prevE) {
  if
#ifdef FIX_GAPS
  :: PE(p) >= prom[n] && prevE != 0 && (lg[n].v[PV(p) - 1] == 0 || PE(lg[n].v[PV(p) - 1]) + 1 != prevE) ->
     skip   /* the previous entry does not match: no vote (a repair would follow) */
#endif
#ifdef FIX_PREV_POSITION
  /* store only right after the holder's previous position (or again at the same position) */
  :: PE(p) >= prom[n] && pos[n] != prevE && pos[n] != p ->
     printf("MSC: node %d refuses write %d at e%d v%d: its copy ends at e%d v%d\n", n, w, PE(p), PV(p), PE(pos[n]), PV(pos[n]));
     SEND0(n, from, ACCEPTED, 0, p, 0, prom[n])
#endif
#ifndef MUTANT_ACCEPT_STALE_EPOCH
  :: PE(p) < prom[n] -> SEND0(n, from, ACCEPTED, 0, p, 0, prom[n])
#endif
  :: else ->
     accept_not_below_promise = (PE(p) >= prom[n]);
     assert(accept_not_below_promise);
     prom[n] = PE(p);                           /* raised in memory only, as NodeCore does */
     if :: hold[n] && he[n] < PE(p) -> STOP_HOLDING(n) :: else -> skip fi;
     pos[n] = p; STORE(n, p, w);
     printf("MSC: node %d accepts write %d at e%d v%d from node %d\n", n, w, PE(p), PV(p), from);
     SEND0(n, from, ACCEPTED, 0, p, 1, PE(p))
  fi
}

inline ON_ACCEPTED(h, from, p, okv, promised) {
  if
  :: hold[h] && he[h] == PE(p) ->
     if
     :: !okv -> if :: he[h] < promised -> STOP_HOLDING(h) :: else -> skip fi
     :: else ->
        lw = 0; bk = 1;
        do :: bk <= W -> if :: wh[bk] == (h) + 1 && wpos[bk] == p -> lw = bk :: else -> skip fi; bk++
           :: else -> break od;
        if
        :: lw != 0 ->
           wtal[lw] = wtal[lw] | BIT(from);
           COMPLETE(wtal[lw], REG(h), ok);
           if :: ok -> COMMIT(h, lw, p) :: else -> skip fi
        :: else -> skip
        fi
     fi
  :: else -> skip
  fi
}

inline ON_INSTALL(n, from, e, upTo, kind) {
  if
  :: e < prom[n] -> SEND0(n, from, INSTALLED, e, 0, prom[n], 0)
  :: else ->
     accept_not_below_promise = (e >= prom[n]);
     assert(accept_not_below_promise);
     prom[n] = e; pos[n] = upTo;                /* promise in memory only, as NodeCore does */
     if :: hold[n] && he[n] < e -> STOP_HOLDING(n) :: else -> skip fi;
     APPLY(n, kind); SYNC(n);
     SEND0(n, from, INSTALLED, e, 1, e, 0)
  fi
}

inline ON_INSTALLED(s, from, e, okv) {
  if
  :: ph[s] == P_INST && ce[s] == e ->
     if
     :: !okv -> RESET_STEAL(s)
     :: else -> ital[s] = ital[s] | BIT(from); COMPLETE(ital[s], REG(s), ok); if :: ok -> ACTIVATE(s) :: else -> skip fi
     fi
  :: else -> skip
  fi
}

inline ON_REPLICATE(n, p, w) {
  if
  :: !hold[n] && ph[n] == P_NONE && PE(p) >= prom[n] && PV(p) == PV(pos[n]) + 1 ->
     pos[n] = p; STORE(n, p, w);
     printf("MSC: node %d stores replicated write %d at e%d v%d\n", n, w, PE(p), PV(p))
  :: else -> skip
  fi
}

#ifdef FLUSH
/* the holder decides what it can (flushOutcome): a write is durable once its log contains it
   and its version is at most the watermark, lost if its log does not contain it */
inline FLUSH_DECIDE(h) {
  /* the watermark: the highest version that a majority of the region reported synced in this
     epoch, and at least the synced install the term started from */
  wm = tdur[h]; fm = 0;
  do
  :: fm < N ->
     if
     :: REG(fm) == REG(h) && syn[(h) * N + fm] > wm ->
        fc = 0; fw = 0;
        do :: fw < N -> if :: REG(fw) == REG(h) && syn[(h) * N + fw] >= syn[(h) * N + fm] -> fc++ :: else -> skip fi; fw++
           :: else -> break od;
        if :: fc >= MAJ(REG(h)) -> wm = syn[(h) * N + fm] :: else -> skip fi
     :: else -> skip
     fi;
     fm++
  :: else -> break
  od;
  fw = 1;
  do
  :: fw <= W ->
     if
     :: (fpend & BIT(fw)) && ackE[fw] <= he[h] ->
        /* contains: a write of this epoch is the holder's own up to its position; one of the
           epoch the term started from is in the start copy up to its version; any other only
           if the log has it there (the code: the copy's list of recent write ids) */
        fin = ((ackE[fw] == he[h] && ackV[fw] <= PV(pos[h]))
               || (ackE[fw] == PE(tstart[h]) && ackV[fw] <= PV(tstart[h]))
               || lg[h].v[ackV[fw]] == POS(ackE[fw], fw));
        if
        :: !fin ->
           fpend = fpend & ~BIT(fw); flost = 1;
           printf("MSC: node %d answers the flush: write %d lost\n", h, fw)
        :: fin && ackV[fw] <= wm ->
           fpend = fpend & ~BIT(fw);
           printf("MSC: node %d answers the flush: write %d durable (watermark v%d)\n", h, fw, wm)
        :: else -> skip
        fi
     :: else -> skip
     fi;
     fw++
  :: else -> break
  od;
  if
  :: fpend == 0 ->
     fco = 0;
     if
     :: flost -> fst = 3; printf("MSC: the flush fails (a write is lost)\n")
     :: else ->
        fst = 2; printf("MSC: the flush returns\n");
        fw = 1;
        do
        :: fw <= W ->
           if
           :: fcov & BIT(fw) ->
              pflushed[fw] = 1;
              /* a holder of a newer epoch already active must have it too */
              fm = 0;
              do
              :: fm < N ->
                 if
                 :: hold[fm] && he[fm] > ackE[fw] ->
                    HAS(lg[fm], fw, found);
                    protocol_flushed_write_at_later_holder = found;
                    assert(protocol_flushed_write_at_later_holder)
                 :: else -> skip
                 fi;
                 fm++
              :: else -> break
              od
           :: else -> skip
           fi;
           fw++
        :: else -> break
        od
     fi
  :: else -> skip
  fi
}

/* a sync the holder asked for covered member m's copy up to position p (recordSynced) */
inline FLUSH_REPORT(h, m, p) {
  if
  :: hold[h] ->
#ifdef MUTANT_FLUSH_COUNTS_ANY_SYNC
     /* any sync counts for the holder's whole committed log, whatever the copy holds */
     fv = PV(pos[h]); fw = 1;
     do :: fw <= W -> if :: wh[fw] == (h) + 1 && PV(wpos[fw]) - 1 < fv -> fv = PV(wpos[fw]) - 1 :: else -> skip fi; fw++
        :: else -> break od;
#else
     /* only a position of the holder's epoch counts: the copy has its log up to there */
     fv = (PE(p) == he[h] -> PV(p) : 0);
#endif
     if :: fv > syn[(h) * N + (m)] -> syn[(h) * N + (m)] = fv :: else -> skip fi;
     if :: fst == 1 && fco == (h) + 1 -> FLUSH_DECIDE(h) :: else -> skip fi
  :: else -> skip
  fi
}

/* a Q2 member asked to sync: the sync covers what it stored before it started */
inline ON_SYNCREQ(n, from) {
  SYNC(n);
  printf("MSC: node %d syncs for the flush at e%d v%d\n", n, PE(pos[n]), PV(pos[n]));
  SEND0(n, from, SYNCED, 0, pos[n], 0, 0)
}
#endif

#ifdef HOLDER_CLAIMS
/* onHandOver (.claimed): the holder that claimed the block for this node sends its log; the
   claim is Hive's record, so this node may have adopted it from the watch already. Past the
   fence (the term's acceptors answered first) there is nothing to add; otherwise the holder's
   whole log stands for the majority's promises (fenceComplete(holderLog:)) */
inline ON_HANDOVER(t, f, e, p, kind, idx) {
  if
  :: hH[idx] == t && hS[idx] == STEALING && hLaH[idx] == f ->
     LEARN(t, idx);
     if
     :: (ph[t] == P_CLAIM || ph[t] == P_FENCE) && ce[t] == e ->
        printf("MSC: node %d takes node %d's log up to e%d v%d (kind %d)\n", t, f, PE(p), PV(p), kind);
        bk = 0; do :: bk < N -> rep[(t) * N + bk] = 0; bk++ :: else -> break od;
        ftal[t] = BIT(f); rep[(t) * N + (f)] = p;
        tw[t] = (kind != 0); twh[t] = kind; tup[t] = (kind != 0 -> p : 0);
        bk = 1; do :: bk <= MAXV -> tl[t].v[bk] = (kind != 0 -> pl[bk] : 0); bk++ :: else -> break od;
        adf[t] = 0;
        FENCE_COMPLETE(t)
     :: else -> skip
     fi
  :: else -> skip
  fi
}
#endif

inline HANDLE(t, f) {
  if
  :: m_t == FENCE -> ON_FENCE(t, f, m_ep, m_a)
  :: m_t == FENCED -> ON_FENCED(t, f, m_ep, m_a, m_b, m_c)
  :: m_t == TREQ ->
     if :: prom[t] <= m_ep && pos[t] == m_b -> EXPORT(t, m_a, m_b); SEND(t, f, TREP, m_ep, m_b, xw, 0);
           printf("MSC: node %d sends a transfer to node %d (kind %d: [%d %d %d %d])\n", t, f, xw, pl[1], pl[2], pl[3], pl[4])
        :: else -> skip fi
  :: m_t == TREP ->
     if :: ph[t] == P_XFER && ce[t] == m_ep && src[t] == f && m_a == best[t] -> DO_INSTALL(t, m_b, m_a)
        :: else -> skip fi
  :: m_t == INSTALL -> ON_INSTALL(t, f, m_ep, m_a, m_b)
  :: m_t == INSTALLED -> ON_INSTALLED(t, f, m_ep, m_a)
  :: m_t == ACCEPT -> ON_ACCEPT(t, f, m_a, m_b, m_c)
  :: m_t == ACCEPTED -> ON_ACCEPTED(t, f, m_a, m_b, m_c)
  :: m_t == REPL -> ON_REPLICATE(t, m_a, m_b)
#ifdef FLUSH
  :: m_t == SYNCREQ -> ON_SYNCREQ(t, f)
  :: m_t == SYNCED -> FLUSH_REPORT(t, f, m_a)
#endif
  fi
}

/* ---------------------------------------------------------------- processes */
/* one directed link: delivers in order, or (lossy) drops the head */
proctype Link(byte f; byte t) {
end:
  do
#ifdef HOLDER_CLAIMS
  /* (two steps: one would be longer than SPIN allows a d_step to be) */
  :: d_step { nempty(ch[f * N + t]) && !(ch[f * N + t]?[HANDOVER, _, _, _, _, _, _, _, _]) ->
              ch[f * N + t]?m_t, m_ep, m_a, m_b, m_c, pl[1], pl[2], pl[3], pl[4]; HANDLE(t, f); skip }
  :: d_step { ch[f * N + t]?[HANDOVER, _, _, _, _, _, _, _, _] ->
              ch[f * N + t]?m_t, m_ep, m_a, m_b, m_c, pl[1], pl[2], pl[3], pl[4]; ON_HANDOVER(t, f, m_ep, m_a, m_b, m_c); skip }
#else
  :: d_step { ch[f * N + t]?m_t, m_ep, m_a, m_b, m_c, pl[1], pl[2], pl[3], pl[4] -> HANDLE(t, f); skip }
#endif
#ifndef NOLOSS
  :: d_step { ch[f * N + t]?m_t, _, _, _, _, _, _, _, _ -> printf("MSC: link %d->%d loses a %e\n", f, t, m_t) }
#elif defined(LOSE_ACCEPTS)
  :: d_step { ch[f * N + t]?[ACCEPT, _, _, _, _, _, _, _, _] -> ch[f * N + t]?m_t, _, _, _, _, _, _, _, _;
              printf("MSC: link %d->%d loses an ACCEPT\n", f, t) }
#endif
  od
}

#ifdef MUTANT_NO_FENCE
#define SERVES(n) (hold[n])
#else
#define SERVES(n) (hold[n] && he[n] == prom[n])
#endif
#ifdef FIX_RESTART
#define NOT_RESTARTED(n) (!crashed[n])
#else
#define NOT_RESTARTED(n) 1
#endif
#define CAN_HOME(n) (NOT_RESTARTED(n) && !hold[n] && ph[n] == P_NONE && rt[n] == 0 && prom[n] == 0 && (n) == HOMENODE)
#define CAN_RESUME(n) (NOT_RESTARTED(n) && !hold[n] && ph[n] == P_NONE && rt[n] != 0 && hH[rt[n]] == (n) && hS[rt[n]] == ACTIVE && hE[rt[n]] == prom[n])
/* a client sends write w (again) when it is not acknowledged, not pending at a holder,
   and every earlier write was sent at least once */
#define ISSUABLE(w) (!acked[w] && wh[w] == 0 && (w == 1 || issued[w - 1]))
#if W == 1
#define SOME_ISSUABLE (ISSUABLE(1))
#elif W == 2
#define SOME_ISSUABLE (ISSUABLE(1) || ISSUABLE(2))
#elif W == 3
#define SOME_ISSUABLE (ISSUABLE(1) || ISSUABLE(2) || ISSUABLE(3))
#else
#error "W must be 1..3"
#endif
/* a write was acknowledged; one was acknowledged in an epoch newer than n holds */
#define ACKED_AFTER(w, n) (acked[w] && ackE[w] > he[n])
#if W == 1
#define SOME_ACKED (acked[1])
#define NEWER_ACK(n) (ACKED_AFTER(1, n))
#elif W == 2
#define SOME_ACKED (acked[1] || acked[2])
#define NEWER_ACK(n) (ACKED_AFTER(1, n) || ACKED_AFTER(2, n))
#else
#define SOME_ACKED (acked[1] || acked[2] || acked[3])
#define NEWER_ACK(n) (ACKED_AFTER(1, n) || ACKED_AFTER(2, n) || ACKED_AFTER(3, n))
#endif
#if defined(ONE_STEALER)
/* only the last node steals (the holder's claim then hands the block on): keeps the search
   small enough for the multi-node configurations */
#define MAY_STEAL(n) ((n) == N - 1)
#elif defined(STEAL_RENEW)
/* only renewal (FIX_RESTART): a restarted node that Hive names as the holder (the home node
   when there is no record) steals the block from itself */
#define MAY_STEAL(n) (crashed[n] && (rt[n] == 0 -> (n) == HOMENODE : hH[rt[n]] == (n)))
#elif defined(POLICY_GUARD)
/* considerSteal: the believed holder is in another region */
#define MAY_STEAL(n) (REG(rt[n] == 0 -> HOMENODE : hH[rt[n]]) != REG(n))
#else
/* requestSteal (an operator or a push): any node that neither holds nor steals */
#define MAY_STEAL(n) 1
#endif

#ifdef HOLDER_CLAIMS
#ifdef POLICY_GUARD
#define HO_TARGET(n, t) (REG(t) != REG(n))
#else
#define HO_TARGET(n, t) ((t) != (n))
#endif
/* the holder of an active record naming it, with no Hive call or steal of its own */
#define HO_CAN(n, t) (HO_TARGET(n, t) && hold[n] && hr[n] == 0 && ph[n] == P_NONE && nsteal < MAXSTEAL && \
                      rt[n] != 0 && hH[rt[n]] == (n) && hS[rt[n]] == ACTIVE && hE[rt[n]] == he[n])
/* the CAS of a claim for target t (the linearization point; the answer comes later);
   known: the claim names the target's copy as it is now, else no copy */
inline HO_CLAIM(n, t, known) {
  nsteal++;
  e1 = (hE[rt[n]] > prom[n] -> hE[rt[n]] : prom[n]) + 1;
  hoe[n] = he[n];
  if
  :: hlen == rt[n] ->
     hlen++; hE[hlen] = e1; hH[hlen] = t; hS[hlen] = STEALING; hLaH[hlen] = n; hC[hlen] = n;
     hSp[hlen] = (known -> pos[t] : 0);
     printf("MSC: Hive: node %d claims epoch %d for node %d (its copy named at e%d v%d)\n", n, e1, t, PE(hSp[hlen]), PV(hSp[hlen]));
     hoi[n] = hlen; hr[n] = R_HO_OK
  :: else -> hoi[n] = hlen; hr[n] = R_HO_FAIL
  fi
}
#endif

proctype Node(byte me) {
end:
  do
  /* a client operation reaches the holder: lazy take-up / resume, then order the write */
  :: d_step {
       (CAN_HOME(me) || CAN_RESUME(me) || (SERVES(me) && nord < MAXORD && SOME_ISSUABLE)) ->
       if
       :: CAN_HOME(me) -> BECOME_HOLDER(me, 0)
       :: CAN_RESUME(me) -> BECOME_HOLDER(me, hE[rt[me]])
       :: else -> skip
       fi;
       if
       :: SERVES(me) && nord < MAXORD ->
          lw = 0; bk = W;
          do :: bk > 0 -> if :: ISSUABLE(bk) -> lw = bk :: else -> skip fi; bk-- :: else -> break od;
          if :: lw != 0 -> HOLDER_WRITE(me, lw) :: else -> skip fi
       :: else -> skip
       fi; skip }
  /* steal: Hive CAS claim (the CAS is the linearization point; the answer comes later) */
  :: d_step {
       ph[me] == P_NONE && !hold[me] && hr[me] == 0 && nsteal < MAXSTEAL && MAY_STEAL(me) ->
       nsteal++;
       if
       :: rt[me] == 0 -> e1 = prom[me] + 1; la = HOMENODE
       :: else ->
          e1 = (hE[rt[me]] > prom[me] -> hE[rt[me]] : prom[me]) + 1;
          la = (hS[rt[me]] == ACTIVE -> hH[rt[me]] : hLaH[rt[me]])
       fi;
       ph[me] = P_CLAIM; ce[me] = e1; laH[me] = la; csp[me] = pos[me];
       if
       :: hlen == rt[me] ->
          hlen++; hE[hlen] = e1; hH[hlen] = me; hS[hlen] = STEALING; hLaH[hlen] = la; hSp[hlen] = pos[me]; hC[hlen] = me;
          printf("MSC: Hive: node %d claims epoch %d (last active holder %d, stealer at e%d v%d)\n", me, e1, la, PE(pos[me]), PV(pos[me]));
          cidx[me] = hlen; hr[me] = R_CLAIM_OK
       :: else -> cidx[me] = hlen; hr[me] = R_CLAIM_FAIL
       fi; skip }
#ifdef HOLDER_CLAIMS
  /* handOver: a holder nearer Hive than the target claims the block for it (any other node;
     under POLICY_GUARD one in another region). The claim names the copy the holder believes
     the target has: none, or the target's position now (it may have moved on by the answer) */
  :: d_step { HO_CAN(me, 0) -> HO_CLAIM(me, 0, 0); skip }
  :: d_step { HO_CAN(me, 0) -> HO_CLAIM(me, 0, 1); skip }
  :: d_step { HO_CAN(me, 1) -> HO_CLAIM(me, 1, 0); skip }
  :: d_step { HO_CAN(me, 1) -> HO_CLAIM(me, 1, 1); skip }
#if N > 2
  :: d_step { HO_CAN(me, 2) -> HO_CLAIM(me, 2, 0); skip }
  :: d_step { HO_CAN(me, 2) -> HO_CLAIM(me, 2, 1); skip }
#endif
#if N > 3
  :: d_step { HO_CAN(me, 3) -> HO_CLAIM(me, 3, 0); skip }
  :: d_step { HO_CAN(me, 3) -> HO_CLAIM(me, 3, 1); skip }
#endif
#endif
  /* Hive's answer arrives */
  :: d_step {
       hr[me] != 0 && hr[me] < R_HO_OK ->
       if
       :: hr[me] == R_CLAIM_OK && ph[me] == P_CLAIM -> LEARN(me, cidx[me]); ph[me] = P_FENCE; DO_FENCE(me)
       :: hr[me] == R_CLAIM_FAIL && ph[me] == P_CLAIM -> if :: cidx[me] != 0 -> LEARN(me, cidx[me]) :: else -> skip fi; RESET_STEAL(me)
       :: hr[me] == R_ACT_OK && ph[me] == P_ACT ->
          rt[me] = cidx[me] + 1; e1 = ce[me]; RESET_STEAL(me); BECOME_HOLDER(me, e1);
#ifdef FLUSH
          tdur[me] = PV(pos[me]);   /* the install is on a majority's disks */
#endif
       :: hr[me] == R_ACT_FAIL && ph[me] == P_ACT -> LEARN(me, hlen); RESET_STEAL(me)
       :: else -> skip
       fi;
       hr[me] = 0; skip }
  /* Hive's watch delivers the next record (not one the node's own CAS wrote, as in the simulator) */
  :: d_step {
       wi[me] <= hlen ->
       if :: hC[wi[me]] != me -> LEARN(me, wi[me]) :: else -> skip fi;
       wi[me]++; skip }
#ifdef HOLDER_CLAIMS
  /* Hive's answer to a holder's claim for another node */
  :: d_step {
       hr[me] >= R_HO_OK ->
       if
       /* handOverClaimed: promise the claim (nothing more is acknowledged in this term), send
          the log after the copy the claim names, stop holding */
       :: hr[me] == R_HO_OK && hold[me] && he[me] == hoe[me] ->
#ifndef MUTANT_HANDOVER_SERVES_ON
          prom[me] = hE[hoi[me]]; dprom[me] = hE[hoi[me]]; SYNC(me);
          LEARN(me, hoi[me]);
#endif
          if
          :: pos[me] > hSp[hoi[me]] -> EXPORT(me, hSp[hoi[me]], pos[me])
          :: else -> xw = 0; pl[1] = 0; pl[2] = 0; pl[3] = 0; pl[4] = 0
          fi;
          printf("MSC: node %d hands epoch %d to node %d with its log up to e%d v%d (kind %d)\n", me, hE[hoi[me]], hH[hoi[me]], PE(pos[me]), PV(pos[me]), xw);
          SEND(me, hH[hoi[me]], HANDOVER, hE[hoi[me]], pos[me], xw, hoi[me]);
#ifndef MUTANT_HANDOVER_SERVES_ON
          STOP_HOLDING(me)
#else
          skip
#endif
       :: hr[me] == R_HO_OK && !(hold[me] && he[me] == hoe[me]) -> LEARN(me, hoi[me])
       :: hr[me] == R_HO_FAIL -> if :: hoi[me] != 0 -> LEARN(me, hoi[me]) :: else -> skip fi
       fi;
       hr[me] = 0; skip }
#endif
  /* the resend timer fences an adopted claim its acceptors have not promised yet */
  :: d_step { adf[me] && ph[me] == P_FENCE -> adf[me] = 0; DO_FENCE(me); skip }
  /* the WAL is synced (writeback, or a FLUSH of another block) */
#ifdef CRASH
  :: d_step { dirty[me] -> SYNC(me); skip }
#endif
#ifdef FLUSH
  /* a client FLUSH reaches the holder, naming every write acknowledged so far; or, after its
     holder stopped holding, the redirected flush reaches a holder as new as its writes.
     It answers what it can, then syncs its own copy and asks the other Q2 members to sync. */
  :: d_step {
       SERVES(me) && ((fst == 0 && SOME_ACKED && !NEWER_ACK(me)) || (fst == 1 && fco == 0 && he[me] >= fmax)) ->
       if
       :: fst == 0 ->
          fst = 1; fcov = 0; fmax = 0; fw = 1;
          do :: fw <= W -> if :: acked[fw] -> fcov = fcov | BIT(fw); if :: ackE[fw] > fmax -> fmax = ackE[fw] :: else -> skip fi;
                                 printf("MSC: client FLUSH at node %d covers write %d at e%d v%d\n", me, fw, ackE[fw], ackV[fw])
                              :: else -> skip fi; fw++
             :: else -> break od;
          fpend = fcov
       :: else -> printf("MSC: the flush is redirected to node %d\n", me)
       fi;
       fco = me + 1;
       FLUSH_DECIDE(me);
       if
       :: fst == 1 ->
          fown[me] = 1;
          fm = 0;
          do :: fm < N -> if :: fm != me && REG(fm) == REG(me) -> SEND0(me, fm, SYNCREQ, 0, 0, 0, 0) :: else -> skip fi; fm++
             :: else -> break od
       :: else -> skip
       fi; skip }
  /* the holder's own sync for the flush completes */
  :: d_step { fown[me] -> fown[me] = 0; SYNC(me);
       printf("MSC: node %d syncs for the flush at e%d v%d\n", me, PE(pos[me]), PV(pos[me]));
       FLUSH_REPORT(me, me, pos[me]); skip }
#endif
#ifndef NOLOSS
  /* resend timer: unanswered fence / transfer request / install, when the link is idle */
  :: d_step { ph[me] == P_FENCE ->
       ok = 1; fk = 0;
       do :: fk < N -> if :: fk != me && REG(fk) == REG(laH[me]) && !(ftal[me] & BIT(fk)) && len(ch[me * N + fk]) > 0 -> ok = 0
                         :: else -> skip fi; fk++
          :: else -> break od;
       if :: ok -> DO_FENCE(me) :: else -> skip fi; skip }
  :: d_step { ph[me] == P_XFER && src[me] != me && len(ch[me * N + src[me]]) == 0 ->
       SEND0(me, src[me], TREQ, ce[me], pos[me], best[me], 0); skip }
  :: d_step { ph[me] == P_INST ->
       EXPORT(me, 0, best[me]);
       ik = 0;
       do :: ik < N -> if :: ik != me && REG(ik) == REG(me) && len(ch[me * N + ik]) == 0 -> SEND(me, ik, INSTALL, ce[me], best[me], xw, 0)
                         :: else -> skip fi; ik++
          :: else -> break od; skip }
#endif
#ifdef CRASH
  /* crash and restart: volatile storage and state are lost; promises and synced writes stay */
  :: d_step {
       ncrash < MAXCRASH ->
       ncrash++;
#ifdef FIX_RESTART
       crashed[me] = 1;
#endif
       printf("MSC: node %d crashes and restarts (log [%d %d %d %d] -> durable [%d %d %d %d])\n", me, lg[me].v[1], lg[me].v[2], lg[me].v[3], lg[me].v[4], dl[me].v[1], dl[me].v[2], dl[me].v[3], dl[me].v[4]);
       /* an acknowledged write the crash takes from a Q2 member's volatile copy may be lost
          (the block-device contract: unflushed writes may be lost as a disk would) */
       bk = 1;
       do
       :: bk <= W ->
          if
          :: acked[bk] && REG(ackH[bk]) == REG(me) ->
             HAS(lg[me], bk, found); HAS(dl[me], bk, found2);
             if :: found && !found2 -> excused[bk] = 1 :: else -> skip fi
          /* the same for a pending write this acceptor stored: its accepted reply may count */
          :: !acked[bk] && wh[bk] != 0 && wh[bk] != me + 1 && REG(wh[bk] - 1) == REG(me) &&
             lg[me].v[PV(wpos[bk])] == POS(PE(wpos[bk]), bk) && dl[me].v[PV(wpos[bk])] != lg[me].v[PV(wpos[bk])] ->
             lostBy[bk] = lostBy[bk] | BIT(me)
          :: else -> skip
          fi;
          bk++
       :: else -> break
       od;
       bk = 1; do :: bk <= MAXV -> lg[me].v[bk] = dl[me].v[bk]; bk++ :: else -> break od;
       pos[me] = dpos[me]; prom[me] = dprom[me]; dirty[me] = 0;
       if :: hold[me] -> STOP_HOLDING(me) :: else -> skip fi;
#ifdef FLUSH
       fown[me] = 0;
#endif
       held[me] = 0; RESET_STEAL(me); hr[me] = 0;
       /* restart: read the current records from Hive, then watch from there */
       rt[me] = 0;
       if :: hlen > 0 -> LEARN(me, hlen) :: else -> skip fi;
       wi[me] = hlen + 1; skip }
#endif
  od
}

init {
  byte a, b;
  atomic {
#ifdef START_HELD
    /* the last node holds epoch 1 (a steal finished before the search starts: every node
       has read its record, its region promised it, nothing is written yet) */
    hlen = 1; hE[1] = 1; hH[1] = N - 1; hS[1] = ACTIVE; hLaH[1] = N - 1; hC[1] = N - 1;
    holderOf[1] = N; hold[N - 1] = 1; he[N - 1] = 1; held[N - 1] = 1;
    a = 0;
    do
    :: a < N ->
       rt[a] = 1;
       if :: REG(a) == REG(N - 1) -> prom[a] = 1; dprom[a] = 1 :: else -> skip fi;
       a++
    :: else -> break
    od;
#ifdef FLUSH
    tstart[N - 1] = 0; tdur[N - 1] = 0;
#endif
#endif
    a = 0;
    do
    :: a < N ->
#ifdef START_HELD
       wi[a] = 2;
#else
       wi[a] = 1;
#endif
       b = 0;
       do :: b < N -> if :: a != b -> run Link(a, b) :: else -> skip fi; b++ :: else -> break od;
       run Node(a);
       a++
    :: else -> break
    od
  }
}
