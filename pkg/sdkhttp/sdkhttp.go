// Package sdkhttp wraps the HTTP client of wtt's AWS SDK clients so that a
// request body the SDK closes early cannot cost an answer its connection.
//
// Wrap a service client's HTTP client in its options (after the SDK has
// tuned its own buildable client for the defaults mode), or an aws.Config's
// after config.LoadDefaultConfig: with AWS_CA_BUNDLE set, loading needs the
// SDK's own client type and refuses a wrapped one.
//
// The race it closes, seen as a 200 whose body could not be read ("failed to
// decode response body, read tcp ...: use of closed network connection"),
// which the SDK then retried, so that a create ran twice:
//
//  1. smithy-go hands Go's transport a request body that, once closed,
//     returns io.EOF from WriteTo (its safeWriteToReadCloser).
//  2. The transport's write goroutine copies Content-Length bytes of the
//     body to the connection, then copies what is left to io.Discard, which
//     goes through the body's WriteTo, to check nothing is left over.
//  3. If that goroutine is descheduled between the two copies (a loaded
//     machine), the server can answer first; the SDK gets the response and
//     closes the request body, as smithy-go does after every attempt.
//  4. The second copy then gets io.EOF as an error (a WriteTo reports
//     errors, and io.EOF is not one), the transport takes the request write
//     as failed and closes the connection, under the response body the SDK
//     is still reading.
//
// Wrap hides the io.EOF: a WriteTo that reaches the end of the body, closed
// or not, has written all there is.
package sdkhttp

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Wrap returns a client that sends each request through c with its body
// wrapped so that the transport never sees io.EOF as a write error.
func Wrap(c aws.HTTPClient) aws.HTTPClient { return client{c} }

type client struct{ next aws.HTTPClient }

func (c client) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return c.next.Do(req)
	}
	// A shallow copy, as Request.WithContext makes: the caller keeps its
	// request, and closes its own body as before.
	r := new(http.Request)
	*r = *req
	if wt, ok := req.Body.(writerToReadCloser); ok {
		r.Body = eofIsTheEnd{wt}
	}
	return c.next.Do(r)
}

type writerToReadCloser interface {
	io.ReadCloser
	io.WriterTo
}

// eofIsTheEnd is a request body whose WriteTo follows io.WriterTo's
// contract: reaching the end is no error.
type eofIsTheEnd struct{ writerToReadCloser }

func (b eofIsTheEnd) WriteTo(w io.Writer) (int64, error) {
	n, err := b.writerToReadCloser.WriteTo(w)
	if err == io.EOF { // io.EOF itself, as smithy-go returns it; a writer's wrapped error stays
		err = nil
	}
	return n, err
}
