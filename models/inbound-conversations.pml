/*
 * The inbound claim, the conversation merge and the post-processing jobs, model-checked
 * (docs/model.md; `npm run model`). The merge is the protocol that once made conversations vanish.
 *
 * MERGE scenarios (the default build):
 *   default         one person seen under two identities: m1 arrives under a WhatsApp `@lid` alias
 *                   only; m2 shows the phone and the alias (it links them, files under the phone,
 *                   then folds the alias's conversation into the phone's); PUT /v1/leads attaches
 *                   the phone to a lead (a fold anchored on the lead's key).
 *   TWO_LEAD_PUTS   the same, with the lead PUT's client retry racing its first request.
 *   LEAD_MATCH_JOB  the same, with m2's `lead_match` job folding the alias and the lead again.
 *   TWO_LEADS       two leads come to name the same two phones, each PUT listing both, while each
 *                   lead already holds one phone's conversation: the folds cross.
 *   Deliveries are retried after a crash (the provider redelivers), the lead PUT by its client,
 *   the job by SQS. Code: functions/conversations/store-message.ts (tryStore), merge.ts (tryFold,
 *   markMerged, moveMessages, foldLinkedAliases), routing.ts, conversation-store.ts (attachLead),
 *   lead-match.ts.
 * JOBS (-DJOBS): one message delivered twice (a provider retry racing the first delivery), its job
 *   (ai_triage, or lead_match with LEAD_MATCH_WORK) claimed by two consumers of the jobs queue
 *   (ONE_CONSUMER: one), the recovery schedule, a lease that may expire while its worker still
 *   runs, a lost ring and a failed run; MAXBELLS rings at most on the queue. Code: store-message.ts
 *   (claimMessageItem, handleDuplicate), functions/jobs/ (job-store.ts claim, settle, resetFailed;
 *   run-job.ts runJobs; recover-jobs.ts; ai-triage.ts).
 *
 *   One ring, one claim and one settle for all of a message's jobs (issue 25), and how it maps onto
 *   the one job modelled here. Each type keeps its own map entry (status, attempts, generation,
 *   lease), and every claim and settle guard of the code is per type; what the jobs of a ring do
 *   share is one lease lifetime, one all-or-nothing settle, one queue record, the sweep exit and
 *   recovery's reschedule (docs/inbound.md, "Jobs and recovery"). For one job, the other's effect on
 *   those is time (its work runs between this job's claim and the shared settle), a ring (below,
 *   `siblingRing`) or a refused write retried, which the model's interleavings already hold. So
 *   each multi-type request is, for each type it names, exactly that
 *   type's single-job step taken atomically with the other types' (which this model does not
 *   track), and its projection on one type is the step modelled below:
 *   - the claim (one UpdateItem over the ring's types, each with its own claimable condition and
 *     lease guard, one owner and expiry for all) is, for this job, `claimJob`'s atomic step; when a
 *     named type is not claimable the write is refused whole (no change: a stutter here) and the
 *     claimable subset is claimed in one more write — for this job, another claim attempt with the
 *     same guard. A type left out of the claim is not claimed (the `else` branch: ring deleted);
 *   - the work runs the claimed types one after another in one invocation: the other type's work
 *     before or after this one's is time between this job's claim and its settle, where the model
 *     already lets the lease expire and the worker crash (at `jobs.after-claim` for the span before
 *     this job's work, at this job's own work failpoints for the span after; a crash of the other
 *     type's work at those points is the same state for this job);
 *   - the settle (one UpdateItem, or a transaction with the interaction) writes each type's
 *     done/failed under that type's `running AND leaseOwner = me` guard; a type whose guard no
 *     longer holds is left out and the rest written again, so for this job it is
 *     `completeJob`/`failJob`'s atomic step, applied only while it holds the lease;
 *   - the sweep keys are the one thing the types share: the settle drops them only when every job
 *     is then settled, guarded on the others' states. For this job that is the modelled drop
 *     (`swept = 0`) when the other is settled; when it is not, the keys stay, a state that differs
 *     from the modelled one only in `swept` while this job is done or failed, where no transition
 *     of this job reads it (recovery acts on a pending, running or unfiled host; a reset puts the
 *     keys back). The other type's settle drops them only while this job is settled (its guard), so
 *     never under a pending or running job;
 *   - one ring names every type: a ring this job's run did not cause comes back when the OTHER type
 *     failed with attempts left (the record fails, SQS redelivers it) — `siblingRing` below adds
 *     such rings at any time, as many as the other job's attempts can cause (MAX_ATTEMPTS − 1 a
 *     generation: its last failed attempt fails the record no more). Rings of a reset, of recovery and of a filing are the
 *     modelled ones (a ring naming only other types is no ring of this job).
 *   The checks of this job (done at most once, one interaction per done, a live lease never settled
 *   by another, one AI reply) therefore hold for each type of the combined rings.
 *
 * Items are shared variables; each atomic block is one DynamoDB request (a conditional write or a
 * TransactWriteItems, all or nothing), each step with a failpoint in the code ends with CRASHPOINT,
 * tagged `@failpoint <name>`. A fold's batch read of key items with the walks of `mergedInto` from
 * them is one step (each item is read strongly consistently in the code, and every decision taken
 * on them is re-checked by a conditional write). Local variables are zeroed once dead, so states
 * that differ only in them are one.
 *
 * Build switches (spin -D...): the scenarios above, PROGRESS (progress claim, pan -a -f), and one of
 *   MUT_FILE_INTO_MERGED   filing a message without attribute_not_exists(mergedInto) on its conversation
 *   MUT_MERGE_INTO_MERGED  markMerged without its check that the survivor is not merged itself
 *   MUT_SURVIVOR_MERGED    the survivor's upsert without attribute_not_exists(mergedInto)
 *   MUT_MOVE_UNGUARDED     moving a message into a conversation without checking it is not merged
 *   MUT_REDIRECT_BLIND     key items redirected without the condition on what the fold read
 *   MUT_ANCHOR_BLIND       the anchor key item created without attribute_not_exists(pk)
 *   MUT_UNLINKED           an alias-only message filed without checking no link names the alias
 *   MUT_CLAIM_OVERWRITES   (JOBS) the message claim put without attribute_not_exists(pk)
 *   MUT_REFILE             (JOBS) filing without attribute_not_exists(conversationId)
 *   MUT_NO_LEASE_OWNER     (JOBS) done/failed written without the lease-holder condition
 *   MUT_RESET_UNGUARDED    (JOBS) a duplicate's reset of a failed job without `failed AND generation = seen`
 *   MUT_NO_RECOVERY        (JOBS) no recovery schedule (progress)
 *   MUT_SWEEP_UNGUARDED    (JOBS) the sweep takes a host it read without jobs (a claim) out of the
 *                          index without checking it still has none (progress)
 *
 * The jobs' sweep index (JOBS): `swept` is the message item carrying the sweep keys. The claim puts
 * them (issue 25: with the `sweepAt` the filing writes, so the filing leaves the entry where it
 * is), the filing and a reset keep them, the settle that leaves the job done or failed drops them,
 * and recovery finds only what carries them. It can meet a claim nobody filed yet: it reads it (no
 * job), and its write drops the keys only while the item still has no job.
 */

#define MAXCRASH 1
#define CRASHPOINT(L) if :: crashes < MAXCRASH -> crashes++; goto L :: true -> skip fi
byte crashes;
byte finished;          /* processes that ran to their end */

#ifndef JOBS
/* ============================== MERGE ============================== */

/* keys and the conversations they create (conversationIdFor(key) is the key's own id) */
#define KA 1            /* alias:{tenant}:{@lid} */
#define KP 2            /* phone:{tenant}:{e164} */
#define KL 3            /* lead:{tenant}:{leadId} */
#define KL2 4           /* lead:{tenant}:{leadId2} (TWO_LEADS) */
#define KQ 5            /* phone:{tenant}:{e164 2} (TWO_LEADS) */
#define NC 6            /* conversation ids 1..5; 0 = none */
#define NM 3            /* messages m1, m2 (index 1..2) */

byte keyItem[NC];       /* CKEY item: the conversation it names (0: no item) */
bool keyOwnA;           /* the alias's key item names its own alias conversation (not yet folded) */
bool exists[NC];        /* CONV item */
byte merged[NC];        /* mergedInto (0: live) */
bool listed[NC];        /* gsi1 listing keys present */
byte count[NC];         /* messageCount */
bool member[NC * NM];   /* CONV#c / M#m membership item */
byte msgConv[NM];       /* the message item's conversationId (0: not filed) */
bool linked;            /* LINK item: alias -> phone */
bool leadPhone;         /* a lead's phone index item (PUT /v1/leads saved it) */

#define MEM(c, m) member[(c) * NM + (m)]
#define LIVE(c) (exists[c] && merged[c] == 0)

/* Follows mergedInto to the live conversation; a chain longer than the ids is a cycle. */
inline rootOf(c, r) {
  r = c;
  hops = 0;
  do
  :: merged[r] != 0 && hops < NC -> r = merged[r]; hops++
  :: else -> break
  od;
  assert(hops < NC);  /* mergedInto never forms a cycle: every chain ends at a live conversation */
  hops = 0
}

/* messageCount equals the membership items, and a message has at most one */
inline checkCounts() {
  for (hops : 1 .. NC - 1) {
    assert(count[hops] == MEM(hops, 1) + MEM(hops, 2))
  }
  hops = 0;
  assert(MEM(1, 1) + MEM(2, 1) + MEM(3, 1) + MEM(4, 1) + MEM(5, 1) <= 1);
  assert(MEM(1, 2) + MEM(2, 2) + MEM(3, 2) + MEM(4, 2) + MEM(5, 2) <= 1)
}

/*
 * moveMessages(from, into): the membership items of `from` as one strongly consistent query, then
 * one transaction per message: the message still in `from`, `into` live (else follow its root).
 */
inline moveMessages(from, into) {
  tgt = into;
  atomic { q1 = MEM(from, 1); q2 = MEM(from, 2) };
  mv = 1;
  do
  :: mv == 3 -> break
  :: mv < 3 && !((mv == 1 && q1) || (mv == 2 && q2)) -> mv++
  :: mv < 3 && ((mv == 1 && q1) || (mv == 2 && q2)) ->
     atomic {
       if
       :: msgConv[mv] != from -> mv++          /* moved by a concurrent fold */
#ifdef MUT_MOVE_UNGUARDED
       :: msgConv[mv] == from && exists[tgt] ->
#else
       :: msgConv[mv] == from && LIVE(tgt) ->
#endif
          msgConv[mv] = tgt; MEM(from, mv) = 0; MEM(tgt, mv) = 1;
          count[from]--; count[tgt]++;
          checkCounts();
          mv++
#ifdef MUT_MOVE_UNGUARDED
       :: msgConv[mv] == from && !exists[tgt] -> rootOf(tgt, r); tgt = r; r = 0
#else
       :: msgConv[mv] == from && !LIVE(tgt) -> rootOf(tgt, r); tgt = r; r = 0
#endif
       fi
     }
  od;
  atomic { tgt = 0; q1 = 0; q2 = 0; mv = 0 }
}

/* a finished step's locals back to 0, so states differing only in dead values are one */
inline forgetFold() {
  atomic {
    fa = 0; f1 = 0; f2 = 0; ra = 0; r1 = 0; r2 = 0; sv = 0; k = 0; c = 0; r = 0; drained = 0;
    again = 0
  }
}

/*
 * foldConversations: `a` the anchor (the lead's key for a lead fold, else the phone's), `o1`, `o2`
 * the keys to fold (the lead's phones; the alias for foldLinkedAliases; 0 = none). The survivor is
 * the anchor's root, else the first key's root, else a new conversation of the anchor. A refused
 * write means somebody changed a key or merged a conversation under us: decide again on fresh
 * reads (`again`). A crash (`L`) leaves what was written; the caller's retry folds again.
 */
inline fold(a, o1, o2, L) {
  do
  :: again = 0;
     /* the key items of every key, and the root of each conversation they name */
     atomic {
       fa = keyItem[a]; f1 = keyItem[o1]; f2 = (o2 != 0 -> keyItem[o2] : 0);
       ra = 0; r1 = 0; r2 = 0;
       if :: fa != 0 -> rootOf(fa, ra) :: else fi;
       if :: f1 != 0 -> rootOf(f1, r1) :: else fi;
       if :: f2 != 0 -> rootOf(f2, r2) :: else fi;
       sv = (ra != 0 -> ra : (r1 != 0 -> r1 : (r2 != 0 -> r2 : a)))
     };
     /* 1. the survivor carries the target key; a new anchor key item decides who survives */
     atomic {
       if
#ifndef MUT_SURVIVOR_MERGED
       :: merged[sv] != 0 -> again = 1
#endif
#ifndef MUT_ANCHOR_BLIND
       :: merged[sv] == 0 && fa == 0 && keyItem[a] != 0 -> again = 1
#endif
       :: else ->
          exists[sv] = 1; listed[sv] = 1;
          if :: fa == 0 -> keyItem[a] = sv :: else fi;
          CRASHPOINT(L) /* @failpoint conversations.after-rekey */
       fi
     };
     /* 2. every other live root is marked merged into the survivor, never into a merged one */
     k = (again -> 4 : 1);
     do
     :: k == 4 -> break
     :: k < 4 ->
        c = (k == 1 -> ra : (k == 2 -> r1 : r2));
        if
        :: c == 0 || c == sv || (k == 2 && c == ra) || (k == 3 && (c == ra || c == r1)) -> k++
        :: else ->
           atomic {
             if
#ifdef MUT_MERGE_INTO_MERGED
             :: LIVE(c) && exists[sv] -> merged[c] = sv; listed[c] = 0; rootOf(c, r); r = 0; k++
#else
             :: LIVE(c) && LIVE(sv) -> merged[c] = sv; listed[c] = 0; k++
#endif
             :: !LIVE(c) && merged[c] == sv -> k++  /* already merged into it */
             :: else -> again = 1; k = 4
             fi;
             if :: !again -> CRASHPOINT(L) :: else fi /* @failpoint conversations.after-merge-marked */
           }
        fi
     od;
     /* 3. every merged conversation from a key to its root (the roots included) gives up its
      *    messages: mergedInto never changes once set, so following it now walks the chain read */
     k = (again -> 4 : 1); drained = 0;
     do
     :: k == 4 -> break
     :: k < 4 ->
        c = (k == 1 -> fa : (k == 2 -> f1 : f2));
        r = (k == 1 -> ra : (k == 2 -> r1 : r2));
        do
        :: c == 0 -> break
        :: c != 0 ->
           if
           :: c != sv && (drained & (1 << c)) == 0 -> drained = drained | (1 << c); moveMessages(c, sv)
           :: else
           fi;
           if :: c == r -> break :: else -> c = merged[c] fi
        od;
        k++
     od;
     if :: !again -> CRASHPOINT(L) :: else fi; /* @failpoint conversations.after-messages-moved */
     /* 4. the key items point at the survivor, each conditional on what this fold read */
     atomic {
       if
       :: again -> skip
#ifndef MUT_REDIRECT_BLIND
       :: !again && fa != 0 && keyItem[a] != fa -> again = 1
       :: !again && keyItem[o1] != f1 -> again = 1
       :: !again && o2 != 0 && keyItem[o2] != f2 -> again = 1
#endif
       :: else ->
          if :: fa != 0 && fa != sv -> keyItem[a] = sv :: else fi;
          if :: f1 != sv -> keyItem[o1] = sv; keyOwnA = (keyOwnA && o1 != KA) :: else fi;
          if :: o2 != 0 && f2 != sv -> keyItem[o2] = sv :: else fi
       fi
     };
     if :: again -> skip :: else -> break fi
  od;
  forgetFold()
}

/* foldLinkedAliases: the alias's key item still names its own alias conversation → fold it */
inline foldLinkedAliases(L) {
  if
  :: atomic { keyItem[KA] != 0 && keyOwnA } -> fold(KP, KA, 0, L)
  :: else
  fi
}

#define FOLD_LOCALS byte tgt, q1, q2, mv, r, hops, drained, fa, f1, f2, ra, r1, r2, sv, k, c; bool again

/*
 * storeMessage(m): route (the link and the alias key for an alias-only message, else the phone
 * key), then one transaction files it; a key naming a merged conversation is followed to its
 * root, that conversation's messages moved there, and the key repaired in the next filing.
 */
proctype deliver(byte m) {
  FOLD_LOCALS;
  byte rk, ex, cid, fol, folSeen;
redeliver:
  forgetFold();
  atomic { fol = 0; folSeen = 0; rk = 0; ex = 0; cid = 0 };
route:
  atomic {
    rk = (m == 2 || linked -> KP : KA);
    ex = keyItem[rk];
    cid = (fol != 0 && ex == folSeen -> fol : (ex != 0 -> ex : rk))
  };
  atomic {
    if
    :: msgConv[m] != 0 -> goto duplicate
    :: else
    fi;
#ifndef MUT_FILE_INTO_MERGED
    if :: merged[cid] != 0 -> goto follow :: else fi;
#endif
    if
    :: ex == 0 && keyItem[rk] != 0 -> goto route              /* a first contact raced us */
    :: ex != 0 && fol != 0 && keyItem[rk] != ex -> goto route /* the key was repaired meanwhile */
#ifndef MUT_UNLINKED
    :: rk == KA && linked -> goto route                       /* linked meanwhile */
#endif
    :: else
    fi;
    msgConv[m] = cid; MEM(cid, m) = 1; count[cid]++; exists[cid] = 1; listed[cid] = 1;
    if
    :: ex == 0 -> keyItem[rk] = cid; if :: rk == KA -> keyOwnA = 1 :: else fi
    :: ex != 0 && fol != 0 -> keyItem[rk] = cid; if :: rk == KA -> keyOwnA = 0 :: else fi
    :: else
    fi;
    if :: m == 2 -> linked = 1 :: else fi;
    checkCounts();
    CRASHPOINT(redeliver) /* @failpoint inbound.after-message-stored */
  };
  goto aliases;
follow:
  /* the key names a merged conversation: file under its root, after moving what it still holds */
  rootOf(cid, r);
  fol = r; folSeen = ex;
  c = cid;
  do
  :: c == fol -> break
  :: c != fol -> moveMessages(c, fol); c = merged[c]
  od;
  atomic { r = 0; c = 0 };
  goto route;
duplicate:
aliases:
  /* m2 linked the alias: fold its conversation (again on a duplicate: the first may have died) */
  if :: m == 2 -> foldLinkedAliases(redeliver) :: else fi;
  atomic { fol = 0; folSeen = 0; rk = 0; ex = 0; cid = 0; finished++ }
}

/*
 * PUT /v1/leads/{leadId} (lead key `lk`) with the person's phone (and `q`, a second phone, in
 * TWO_LEADS), retried by its client after a 5xx.
 */
proctype leadPut(byte lk; byte q) {
  FOLD_LOCALS;
retry:
  forgetFold();
  atomic {
    leadPhone = 1;
    CRASHPOINT(retry) /* @failpoint leads.after-lead-saved */
  };
  fold(lk, KP, q, retry);
  finished++
}

#ifdef LEAD_MATCH_JOB
/* m2's lead_match job, once m2 is filed; rerun by SQS after a crash */
active proctype leadMatch() {
  FOLD_LOCALS;
  msgConv[2] != 0;
rerun:
  forgetFold();  /* (and the label is declared before the inline below names it) */
  foldLinkedAliases(rerun);
  if
  :: leadPhone ->
     fold(KL, KP, 0, rerun);
     CRASHPOINT(rerun) /* @failpoint jobs.lead_match.after-attach */
  :: else
  fi;
  finished++
}
#define LEAD_MATCH_PROCS 1
#else
#define LEAD_MATCH_PROCS 0
#endif

#ifdef TWO_LEADS
/*
 * Two leads come to name the same two phones (each PUT lists both): before, lead L1 held phone P's
 * conversation (m1) and lead L2 phone Q's (m2). Each fold marks the other's conversation merged
 * into its own: only the survivor's `not merged` check stops a cycle (both merged, none listed).
 */
#define NPROCS 2
init {
  atomic {
    exists[KL] = 1; listed[KL] = 1; keyItem[KL] = KL; keyItem[KP] = KL;
    msgConv[1] = KL; MEM(KL, 1) = 1; count[KL] = 1;
    exists[KL2] = 1; listed[KL2] = 1; keyItem[KL2] = KL2; keyItem[KQ] = KL2;
    msgConv[2] = KL2; MEM(KL2, 2) = 1; count[KL2] = 1;
    run leadPut(KL, KQ); run leadPut(KL2, KQ)
  }
}
#else
#ifdef TWO_LEAD_PUTS
/* the client's retry of PUT /v1/leads races its first request */
#define NPROCS (4 + LEAD_MATCH_PROCS)
init {
  atomic { run deliver(1); run deliver(2); run leadPut(KL, 0); run leadPut(KL, 0) }
}
#else
#define NPROCS (3 + LEAD_MATCH_PROCS)
init {
  atomic { run deliver(1); run deliver(2); run leadPut(KL, 0) }
}
#endif
#endif

/*
 * Once every delivery, lead PUT and job has finished: one conversation, live and listed, holds
 * every message and every key leads to it; no other conversation is listed.
 */
active proctype checkEnd() {
  byte r, hops, live, home, k;
  finished == NPROCS;
  atomic {
    live = 0; home = 0;
    for (r : 1 .. NC - 1) {
      assert(listed[r] == LIVE(r));
      if :: LIVE(r) -> live++; home = r :: else fi
    }
    assert(live == 1);
    assert(msgConv[1] == 0 || msgConv[1] == home);
    assert(msgConv[2] == home);
    for (k : 1 .. NC - 1) {
      if :: keyItem[k] != 0 -> rootOf(keyItem[k], r); assert(r == home) :: else fi
    }
  }
}

#ifdef PROGRESS
bool tick;
active proctype clock_ticks() {
end_tick:
  do :: tick = !tick od
}
ltl progress { <> (finished == NPROCS) }
#endif

#else
/* ============================== JOBS ============================== */

#define MAX_ATTEMPTS 3      /* MAX_JOB_ATTEMPTS */
#define MAX_GENERATIONS 3   /* MAX_JOB_GENERATIONS */
#ifndef MAXBELLS
#define MAXBELLS 2
#endif

/* job statuses (an entry of the message item's jobs map) */
#define NOJOB 0
#define PENDING 1
#define RUNNING 2
#define DONE 3
#define FAILED 4

#define AI_TRIAGE 1
#define LEAD_MATCH 2

bool claimed;           /* the message item exists (a claim, maybe filed) */
bool swept;             /* it carries the sweep keys: recovery can find it */
bool filed;             /* it has its conversationId, body and jobs */
byte files;             /* filing transactions that committed */
byte jtype;
byte jst;               /* the job's status */
byte jatt;              /* attempts in this generation */
byte jgen;              /* generation */
byte jowner;            /* lease owner (0: none) */
bool leaseOk;           /* the lease has not expired */
byte dones;             /* transitions to done, ever */
byte interactions;      /* ai_triage interaction items (written with done) */
byte aiReplies;         /* AI reply items of the message (aiReplies "send"; functions/replies/ai-replies.ts) */
byte bells;             /* the job's doorbells on the queue */
bool alive[3];          /* consumer i is still running the job it claimed */
byte lastClaim;         /* the consumer whose claim is the job's latest */
byte expiries, lostBells, fails;

/* a delivery of the message: claim, file with the job, enqueue; a duplicate resets a failed job */
proctype deliver(byte d) {
  byte seenSt, seenGen;
redeliver:
  atomic {
#ifdef MUT_CLAIM_OVERWRITES
    seenSt = jst; seenGen = jgen;
    if :: filed -> filed = 0; jst = NOJOB :: else fi;  /* the bare claim replaces the item */
    claimed = 1; swept = 1
#else
    if
    :: claimed && filed -> seenSt = jst; seenGen = jgen; goto duplicate
    :: claimed && !filed -> skip   /* a claim left by a delivery that died: filed by this one */
    :: else -> claimed = 1; swept = 1
    fi
#endif
  };
  CRASHPOINT(redeliver); /* @failpoint inbound.after-message-claimed */
  atomic {
    if
#ifndef MUT_REFILE
    :: filed -> seenSt = jst; seenGen = jgen; goto duplicate
#endif
    :: else ->
       filed = 1; files++;
       assert(files <= 1);   /* one message per provider id */
       jst = PENDING; jatt = 0; jgen = 1; jowner = 0; swept = 1
    fi;
    CRASHPOINT(redeliver) /* @failpoint inbound.after-message-stored */
  };
  atomic { if :: bells < MAXBELLS -> bells++ :: else fi };
  goto done;
duplicate:
  /* handleDuplicate: a failed job below its generation cap is reset, then enqueued */
  if
  :: seenSt == FAILED && seenGen < MAX_GENERATIONS ->
     atomic {
#ifdef MUT_RESET_UNGUARDED
       jst = PENDING; jgen = seenGen + 1; jatt = 0; jowner = 0; swept = 1;
#else
       if
       :: jst == FAILED && jgen == seenGen -> jst = PENDING; jgen = seenGen + 1; jatt = 0; jowner = 0; swept = 1
       :: else -> goto done
       fi;
#endif
       CRASHPOINT(redeliver) /* @failpoint inbound.after-job-reset */
     };
     atomic { if :: bells < MAXBELLS -> bells++ :: else fi }
  :: else
  fi;
done:
  atomic { seenSt = 0; seenGen = 0 }
}

/* the jobs queue's consumer (run-job.ts): claim, work, done | failed */
proctype consumer(byte me) {
end_idle:
  do
  :: atomic { bells > 0 -> bells-- };
     /* claimJob: pending, failed with attempts left, or running under an expired lease */
     atomic {
       if
       :: jst == PENDING || (jst == FAILED && jatt < MAX_ATTEMPTS) || (jst == RUNNING && !leaseOk) ->
          jst = RUNNING; jatt++; jowner = me; leaseOk = 1; alive[me] = 1; lastClaim = me;
          swept = 1    /* the claim keeps the host in the index until its lease's end */
       :: else -> goto end_idle   /* not claimable: the ring is deleted */
       fi;
       CRASHPOINT(crashed) /* @failpoint jobs.after-claim */
     };
     /* the work: the model call (ai_triage) or the folds and the lead attach (lead_match) */
     if
     :: jtype == AI_TRIAGE ->
        atomic { CRASHPOINT(crashed) } /* @failpoint jobs.ai_triage.after-model-call */
        /* the AI reply: createReply's put, conditional on its id, which the inbound message names */
        atomic {
#ifdef MUT_AI_REPLY_PER_RUN
          aiReplies++;             /* an id taken from the run: every run creates one */
#else
          if :: aiReplies == 0 -> aiReplies = 1 :: else fi;
#endif
          assert(aiReplies <= 1);  /* one AI reply per inbound message, whatever the runs */
          CRASHPOINT(crashed) /* @failpoint jobs.ai_triage.after-reply-created */
        }
     :: jtype == LEAD_MATCH ->
        atomic { CRASHPOINT(crashed) } /* @failpoint jobs.lead_match.after-attach */
     fi;
     /* while this run's lease holds, the job is still its own: nobody else settled it */
     assert(!(lastClaim == me && leaseOk) || (jst == RUNNING && jowner == me));
     if
     :: fails < 1 -> fails++;   /* the work threw: failJob */
        atomic {
#ifdef MUT_NO_LEASE_OWNER
          if :: jst == RUNNING -> jst = FAILED; jowner = 0; swept = 0 :: else fi;
#else
          if :: jst == RUNNING && jowner == me -> jst = FAILED; jowner = 0; swept = 0 :: else fi;
#endif
          /* below the attempts cap the handler throws and SQS redelivers the ring */
          if :: jatt < MAX_ATTEMPTS && bells < MAXBELLS -> bells++ :: else fi;
          alive[me] = 0; if :: lastClaim == me -> lastClaim = 0 :: else fi
        }
     :: true ->                 /* completeJob, with the interaction in the same transaction */
        atomic {
#ifdef MUT_NO_LEASE_OWNER
          if :: jst == RUNNING ->
#else
          if :: jst == RUNNING && jowner == me ->
#endif
               jst = DONE; jowner = 0; dones++; swept = 0;
               if :: jtype == AI_TRIAGE -> interactions++ :: else fi;
               assert(dones <= 1);          /* a job is done at most once, whatever its generations */
               assert(interactions <= 1)    /* one recorded AI interaction per job */
          :: else                            /* lost the lease: the new holder finishes it */
          fi;
          alive[me] = 0; if :: lastClaim == me -> lastClaim = 0 :: else fi
        }
     fi;
     goto end_idle;
crashed:
     /* the handler died: the ring becomes visible again after its visibility timeout */
     atomic {
       alive[me] = 0; if :: lastClaim == me -> lastClaim = 0 :: else fi;
       if :: bells < MAXBELLS -> bells++ :: else fi
     }
  od
}

/*
 * Time passes: the lease of a running job whose worker died expires; once a run, a lease may also
 * expire while its worker still runs (a slow model call), so another consumer takes the job over.
 */
active proctype leaseExpiry() {
end_idle:
  do
  :: atomic { jst == RUNNING && leaseOk && !alive[jowner] -> leaseOk = 0 }
  :: atomic { jst == RUNNING && leaseOk && alive[jowner] && expiries < 1 -> leaseOk = 0; expiries++ }
  od
}

/*
 * SQS loses a ring of a pending or running job: it went to the DLQ after receives that never
 * claimed it. A failed run's ring comes back until its attempts are spent (maxReceiveCount 5 >
 * MAX_JOB_ATTEMPTS 3), so that one is never lost.
 */
active proctype lossyQueue() {
end_idle:
  do
  :: atomic { bells > 0 && jst != FAILED && lostBells < 1 -> bells--; lostBells++ }
  od
}

/*
 * The other job type named in the same ring failed with attempts left: the ring's record fails and
 * SQS delivers the ring again, to this job too (the claim finds it done, held or claimable).
 */
byte siblingRings;
active proctype siblingRing() {
end_sibling:
  do
  :: atomic { bells < MAXBELLS && siblingRings < MAX_ATTEMPTS - 1 -> bells++; siblingRings++ }
  od
}

#ifndef MUT_NO_RECOVERY
/*
 * recover-jobs.ts, from the sweep index: a running job whose lease expired goes back to pending
 * (guarded on the state and lease it read) and is enqueued; a pending job past its grace period
 * is enqueued again.
 */
active proctype recovery() {
  byte seenAtt;
end_idle:
  do
  :: atomic { swept && jst == RUNNING && !leaseOk -> seenAtt = jatt };
     atomic {
       if
       :: jst == RUNNING && !leaseOk && jatt == seenAtt -> jst = PENDING; jowner = 0
       :: else -> seenAtt = 0; goto end_idle
       fi;
       seenAtt = 0;
       CRASHPOINT(end_idle) /* @failpoint recovery.after-stale-reset */
     };
     atomic { if :: bells < MAXBELLS -> bells++ :: else fi }
  :: atomic { swept && jst == PENDING && bells == 0 -> bells++;
       CRASHPOINT(end_idle) /* @failpoint recovery.after-requeue */
     }
  /* a claim nobody filed (yet): read with no job, then out of the index (job-store.ts reschedule) */
  :: atomic { swept && !filed -> seenAtt = 0 };
     atomic {
#ifdef MUT_SWEEP_UNGUARDED
       swept = 0
#else
       if :: jst == NOJOB -> swept = 0 :: else fi   /* attribute_not_exists(jobs) */
#endif
     }
  od
}
#endif

init {
  atomic {
#ifdef LEAD_MATCH_WORK
    jtype = LEAD_MATCH;
#else
    jtype = AI_TRIAGE;
#endif
    run deliver(1); run deliver(2); run consumer(1);
#ifndef ONE_CONSUMER
    run consumer(2)
#endif
  }
}

#ifdef PROGRESS
bool tick;
active proctype clock_ticks() {
end_tick:
  do :: tick = !tick od
}
/* the job settles: done, or failed with its attempts spent */
ltl progress { <> [] (jst == DONE || (jst == FAILED && jatt >= MAX_ATTEMPTS)) }
#endif

#endif
