package runner

import "context"

// groupBySize sends the prepared images from ready to out in requests of up
// to n images that share one size: a request carries one IMAGE shape, and a
// native model ([3,-1,-1]) gets images of many sizes. Images of a fixed-size
// model all share one group, so they go out in arrival order as before. To
// bound memory at most pendingLimit(n) images wait for their group to fill;
// past that the oldest group goes out as it is. It returns when ready is
// drained (every group flushed) or ctx is done.
func groupBySize(ctx context.Context, ready <-chan prepared, out chan<- []prepared, n int) {
	type size struct{ h, w int }
	groups := map[size][]prepared{}
	var order []size // groups by first arrival
	pending := 0
	send := func(k size) bool {
		b := groups[k]
		delete(groups, k)
		for i, o := range order {
			if o == k {
				order = append(order[:i], order[i+1:]...)
				break
			}
		}
		pending -= len(b)
		select {
		case out <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	limit := pendingLimit(n)
	for p := range ready {
		k := size{p.image.H, p.image.W}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], p)
		pending++
		if len(groups[k]) == n && !send(k) {
			return
		}
		if pending > limit && !send(order[0]) {
			return
		}
	}
	for len(order) > 0 {
		if !send(order[0]) {
			return
		}
	}
}

// pendingLimit is how many images may wait for a same-sized batch: a few
// requests' worth, so a dataset of mixed sizes still batches where sizes
// repeat without holding many decoded images.
func pendingLimit(n int) int { return max(4*n, 16) }
