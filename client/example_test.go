package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/client/clienttest"
)

// Store a file and read it back: assign a fid on a master, upload to the
// volume server it names, read through the (cached) volume lookup, delete.
func Example() {
	cluster, err := clienttest.Start(clienttest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	ctx := context.Background()

	c, err := client.New(cluster.MasterAddr())
	if err != nil {
		log.Fatal(err)
	}
	a, err := c.Assign(ctx, client.AssignRequest{})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Upload(ctx, a.URL, a.Fid, client.UploadRequest{
		Filename: "hello.txt",
		Body:     strings.NewReader("hello weed-fs!"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored", res.Name, res.Size, "bytes")

	obj, err := c.Get(ctx, a.Fid, client.GetOptions{})
	if err != nil {
		log.Fatal(err)
	}
	data, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("read %s: %q (%s)\n", obj.Name, data, obj.MimeType)

	size, err := c.Delete(ctx, a.Fid)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("deleted", size, "bytes")
	_, err = c.Get(ctx, a.Fid, client.GetOptions{})
	fmt.Println("read after delete is ErrNotFound:", errors.Is(err, client.ErrNotFound))
	// Output:
	// stored hello.txt 14 bytes
	// read hello.txt: "hello weed-fs!" (text/plain; charset=utf-8)
	// deleted 14 bytes
	// read after delete is ErrNotFound: true
}

// Several masters may be listed; any of them answers, and the client keeps
// using the one that worked. A refusal carries the master's status and
// message.
func ExampleClient_Assign() {
	cluster, err := clienttest.Start(clienttest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	ctx := context.Background()

	c, err := client.New("127.0.0.1:1," + cluster.MasterAddr())
	if err != nil {
		log.Fatal(err)
	}
	a, err := c.Assign(ctx, client.AssignRequest{Count: 3})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ids reserved:", a.Count, "the third is", strings.TrimPrefix(a.FileID(2), a.Fid))

	cluster.FailAssign(406, "Cannot grow volume group! Not enough data node found!")
	_, err = c.Assign(ctx, client.AssignRequest{Replication: "100"})
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.StatusCode, e.Message)
	}
	// Output:
	// ids reserved: 3 the third is _2
	// 406 Cannot grow volume group! Not enough data node found!
}

// Submit stores a file through the master in one call.
func ExampleClient_Submit() {
	cluster, err := clienttest.Start(clienttest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	c, err := client.New(cluster.MasterAddr())
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Submit(context.Background(), client.SubmitRequest{
		Filename: "hello1.txt",
		Body:     strings.NewReader("hello weed-fs1!\n"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.FileName, res.Size, strings.HasSuffix(res.FileURL, "/"+res.Fid))
	// Output:
	// hello1.txt 16 true
}
