package egress

import (
	"image"
	"math"

	"github.com/rtcloud/rtcloud/internal/bus"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// tile is where one participant goes on the canvas.
type tile struct {
	key  string // participant session id
	rect image.Rectangle
}

// layoutTiles places n participants (in order) on a w x h canvas. Grid:
// the most even grid. Speaker: the speaker (index main) takes the top
// four fifths, the others share a strip at the bottom.
func layoutTiles(layout string, w, h int, keys []string, main int) []tile {
	n := len(keys)
	if n == 0 {
		return nil
	}
	if layout == bus.LayoutSpeaker && n > 1 {
		if main < 0 || main >= n {
			main = 0
		}
		stripH := even(h / 5)
		out := []tile{{key: keys[main], rect: image.Rect(0, 0, w, h-stripH)}}
		others := make([]string, 0, n-1)
		for i, k := range keys {
			if i != main {
				others = append(others, k)
			}
		}
		cw := even(w / max(len(others), 4))
		x0 := (w - cw*len(others)) / 2
		x0 = even(x0)
		for i, k := range others {
			out = append(out, tile{key: k, rect: image.Rect(x0+i*cw, h-stripH, x0+(i+1)*cw, h)})
		}
		return out
	}
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	rows := (n + cols - 1) / cols
	tw, th := even(w/cols), even(h/rows)
	out := make([]tile, 0, n)
	for i, k := range keys {
		r, c := i/cols, i%cols
		// Center a short last row.
		inRow := cols
		if r == rows-1 {
			inRow = n - r*cols
		}
		x0 := even((w - inRow*tw) / 2)
		out = append(out, tile{key: k, rect: image.Rect(x0+c*tw, r*th, x0+(c+1)*tw, (r+1)*th)})
	}
	return out
}

func even(v int) int { return v &^ 1 }

// canvas is a YUV 4:2:0 picture.
type canvas struct {
	w, h int
	buf  []byte // Y plane, then U, then V
}

func newCanvas(w, h int) *canvas { return &canvas{w: w, h: h, buf: make([]byte, w*h*3/2)} }

func (c *canvas) planes() (y, u, v []byte) {
	n := c.w * c.h
	return c.buf[:n], c.buf[n : n+n/4], c.buf[n+n/4:]
}

// clear paints the canvas black.
func (c *canvas) clear() {
	y, u, v := c.planes()
	fill(y, 16)
	fill(u, 128)
	fill(v, 128)
}

func fill(b []byte, v byte) {
	if len(b) == 0 {
		return
	}
	b[0] = v
	for i := 1; i < len(b); i *= 2 {
		copy(b[i:], b[:i])
	}
}

// fillRect paints r with a color.
func (c *canvas) fillRect(r image.Rectangle, yv, uv, vv byte) {
	r = r.Intersect(image.Rect(0, 0, c.w, c.h))
	y, u, v := c.planes()
	for row := r.Min.Y; row < r.Max.Y; row++ {
		fill(y[row*c.w+r.Min.X:row*c.w+r.Max.X], yv)
	}
	cw := c.w / 2
	for row := r.Min.Y / 2; row < r.Max.Y/2; row++ {
		fill(u[row*cw+r.Min.X/2:row*cw+r.Max.X/2], uv)
		fill(v[row*cw+r.Min.X/2:row*cw+r.Max.X/2], vv)
	}
}

// fit returns the largest rectangle of aspect sw:sh centered in r.
func fit(r image.Rectangle, sw, sh int) image.Rectangle {
	w, h := r.Dx(), r.Dy()
	if sw <= 0 || sh <= 0 {
		return r
	}
	if w*sh > h*sw { // tile wider than the picture
		nw := even(h * sw / sh)
		x := even(r.Min.X + (w-nw)/2)
		return image.Rect(x, r.Min.Y, x+nw, r.Max.Y)
	}
	nh := even(w * sh / sw)
	y := even(r.Min.Y + (h-nh)/2)
	return image.Rect(r.Min.X, y, r.Max.X, y+nh)
}

// blit scales a sw x sh YUV 4:2:0 frame into dst (nearest neighbour).
func (c *canvas) blit(frame []byte, sw, sh int, dst image.Rectangle) {
	dst = dst.Intersect(image.Rect(0, 0, c.w, c.h))
	if dst.Empty() || len(frame) < sw*sh*3/2 {
		return
	}
	y, u, v := c.planes()
	sy := frame[:sw*sh]
	su := frame[sw*sh : sw*sh+sw*sh/4]
	sv := frame[sw*sh+sw*sh/4 : sw*sh*3/2]
	dw, dh := dst.Dx(), dst.Dy()
	xmap := make([]int, dw)
	for x := range dw {
		xmap[x] = x * sw / dw
	}
	for row := range dh {
		srow := row * sh / dh
		d := y[(dst.Min.Y+row)*c.w+dst.Min.X:]
		s := sy[srow*sw:]
		for x, sx := range xmap {
			d[x] = s[sx]
		}
	}
	cw, scw := c.w/2, sw/2
	for row := range dh / 2 {
		srow := (row * 2 * sh / dh) / 2
		du := u[(dst.Min.Y/2+row)*cw+dst.Min.X/2:]
		dv := v[(dst.Min.Y/2+row)*cw+dst.Min.X/2:]
		for x := range dw / 2 {
			sx := xmap[x*2] / 2
			du[x] = su[srow*scw+sx]
			dv[x] = sv[srow*scw+sx]
		}
	}
}

// nameTile paints a participant without video: a grey tile with the
// name in the middle.
func (c *canvas) nameTile(r image.Rectangle, name string) {
	inner := r.Inset(2)
	c.fillRect(inner, 60, 128, 128)
	if name == "" {
		return
	}
	face := basicfont.Face7x13
	if len(name) > 40 {
		name = name[:40]
	}
	tw := font.MeasureString(face, name).Ceil()
	th := 13
	mask := image.NewAlpha(image.Rect(0, 0, tw, th))
	d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face, Dot: fixed.P(0, 11)}
	d.DrawString(name)
	// Scale the text to about a fifth of the tile's height, within its width.
	scale := max(1, min(inner.Dy()/5/th, inner.Dx()*8/10/max(tw, 1)))
	x0 := inner.Min.X + (inner.Dx()-tw*scale)/2
	y0 := inner.Min.Y + (inner.Dy()-th*scale)/2
	y, _, _ := c.planes()
	for ty := range th * scale {
		py := y0 + ty
		if py < 0 || py >= c.h {
			continue
		}
		for tx := range tw * scale {
			px := x0 + tx
			if px < 0 || px >= c.w {
				continue
			}
			if mask.AlphaAt(tx/scale, ty/scale).A > 127 {
				y[py*c.w+px] = 235
			}
		}
	}
}
