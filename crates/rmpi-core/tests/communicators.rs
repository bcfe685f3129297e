//! Communicators: world, self, dup, split, and the isolation of their contexts.

mod common;
use common::all_ok;
use rmpi_core::{local, CollectiveComm, Comm, ANY_SOURCE, ANY_TAG};

#[test]
fn the_same_tag_on_world_and_a_dup_never_crosses() {
    all_ok(local::run(2, |world| async move {
        let dup = world.dup();
        assert_eq!((dup.rank(), dup.size()), (world.rank(), world.size()));
        if world.rank() == 0 {
            // The dup's message is sent first, so a crossing would deliver it to world.
            dup.send("on dup", 1, 5).await?;
            world.send("on world", 1, 5).await?;
        } else {
            assert_eq!(world.recv::<String>(ANY_SOURCE, ANY_TAG).await?, "on world");
            assert_eq!(dup.recv::<String>(ANY_SOURCE, ANY_TAG).await?, "on dup");
        }
        Ok(())
    }));
}

#[test]
fn collective_traffic_never_matches_point_to_point() {
    all_ok(local::run(2, |world| async move {
        let collective = world.collective_view();
        assert_eq!(
            (collective.rank(), collective.size()),
            (world.rank(), world.size())
        );
        if world.rank() == 0 {
            collective.send("collective", 1, 0).await?;
            world.send("p2p", 1, 0).await?;
        } else {
            assert_eq!(world.recv::<String>(ANY_SOURCE, ANY_TAG).await?, "p2p");
            assert_eq!(collective.recv::<String>(0, 0).await?, "collective");
        }
        Ok(())
    }));
}

#[test]
fn split_orders_by_key_then_old_rank() {
    let layouts = all_ok(local::run(7, |world| async move {
        let rank = world.rank();
        // Colours 0,1,2 by rank % 3; keys reverse the order, except ties among ranks 5 and 6.
        let key = if rank >= 5 { 0 } else { -(rank as i32) };
        let sub = world
            .split(Some((rank % 3) as u32), key)
            .await?
            .expect("has a colour");
        let members: Vec<usize> = (0..sub.size())
            .map(|r| sub.world_rank(r).unwrap())
            .collect();
        assert_eq!(sub.world_rank(sub.rank()), Some(rank));
        // Everyone in the new communicator hears from everyone, on the same tag as world.
        for peer in 0..sub.size() {
            sub.send(&rank, peer, 0).await?;
        }
        let mut heard = Vec::new();
        for peer in 0..sub.size() {
            heard.push(sub.recv::<usize>(peer, 0).await?);
        }
        assert_eq!(heard, members);
        Ok((rank, members))
    }));
    // Colour 0: ranks 0, 3, 6 with keys 0, -3, 0 -> 3, 0, 6.
    // Colour 1: ranks 1, 4 with keys -1, -4 -> 4, 1.
    // Colour 2: ranks 2, 5 with keys -2, 0 -> 2, 5.
    for (rank, members) in layouts {
        let expected = match rank % 3 {
            0 => vec![3, 0, 6],
            1 => vec![4, 1],
            _ => vec![2, 5],
        };
        assert_eq!(members, expected, "rank {rank}");
    }
}

#[test]
fn split_with_undefined_colour_gives_no_communicator() {
    all_ok(local::run(4, |world| async move {
        let colour = (world.rank() % 2 == 0).then_some(0);
        let sub = world.split(colour, 0).await?;
        match sub {
            Some(sub) => assert_eq!((sub.size(), sub.rank()), (2, world.rank() / 2)),
            None => assert_eq!(world.rank() % 2, 1),
        }
        Ok(())
    }));
}

#[test]
fn split_communicators_are_isolated_from_world_and_each_other() {
    all_ok(local::run(4, |world| async move {
        let rank = world.rank();
        // Two splits with the same colours: distinct communicators with identical groups.
        let first = world.split(Some(0), rank as i32).await?.unwrap();
        let second = world.split(Some(0), rank as i32).await?.unwrap();
        if rank == 0 {
            second.send("second", 1, 3).await?;
            first.send("first", 1, 3).await?;
            world.send("world", 1, 3).await?;
        } else if rank == 1 {
            assert_eq!(world.recv::<String>(0, 3).await?, "world");
            assert_eq!(first.recv::<String>(ANY_SOURCE, ANY_TAG).await?, "first");
            assert_eq!(second.recv::<String>(0, ANY_TAG).await?, "second");
        }
        Ok(())
    }));
}

#[test]
fn nested_splits_and_dups_work_and_stay_isolated() {
    all_ok(local::run(8, |world| async move {
        let rank = world.rank();
        let half = world.split(Some((rank / 4) as u32), 0).await?.unwrap();
        let quarter = half
            .split(Some((half.rank() / 2) as u32), 0)
            .await?
            .unwrap();
        let quarter_dup = quarter.dup();
        assert_eq!((half.size(), quarter.size()), (4, 2));
        let partner = 1 - quarter.rank();
        quarter_dup.send(&("dup", rank), partner, 0).await?;
        quarter.send(&("plain", rank), partner, 0).await?;
        let (kind, from) = quarter.recv::<(String, usize)>(partner, 0).await?;
        assert_eq!((kind.as_str(), from), ("plain", rank ^ 1));
        let (kind, from) = quarter_dup.recv::<(String, usize)>(partner, 0).await?;
        assert_eq!((kind.as_str(), from), ("dup", rank ^ 1));
        Ok(())
    }));
}

#[test]
fn concurrent_splits_on_one_communicator_agree() {
    all_ok(local::run(5, |world: Comm| async move {
        let rank = world.rank();
        // Both splits start before either is awaited, and are awaited in the opposite order
        // on odd ranks.
        let by_parity = world.split(Some((rank % 2) as u32), 0);
        let reversed = world.split(Some(0), -(rank as i32));
        let (by_parity, reversed) = if rank % 2 == 0 {
            let a = by_parity.await?;
            (a, reversed.await?)
        } else {
            let b = reversed.await?;
            (by_parity.await?, b)
        };
        let (by_parity, reversed) = (by_parity.unwrap(), reversed.unwrap());
        assert_eq!(reversed.rank(), 4 - rank);
        assert_eq!(by_parity.size(), if rank % 2 == 0 { 3 } else { 2 });
        Ok(())
    }));
}

#[test]
fn self_communicator_holds_one_rank() {
    all_ok(local::run(3, |world| async move {
        let me = world.comm_self();
        assert_eq!(
            (me.rank(), me.size(), me.world_rank(0)),
            (0, 1, Some(world.rank()))
        );
        me.send(&world.rank(), 0, 0).await?;
        assert_eq!(me.recv::<usize>(0, 0).await?, world.rank());
        assert!(me.send(&0, 1, 0).await.is_err());
        Ok(())
    }));
}
